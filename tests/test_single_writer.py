"""Only ledger.writer writes entries, postings and balances (STYLE: one write path)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "jifen"
WRITER = SRC / "ledger" / "writer.py"
# Any insert/update/delete statement or ORM construction that names a ledger table.
FORBIDDEN = re.compile(
    r"\b(insert|update|delete)\(\s*(Entry|Posting|AccountBalance|Book)\b"
    r"|\b(Entry|Posting|AccountBalance|Book)\(\s*[a-z_]+="
    r"|\b(INSERT INTO|UPDATE|DELETE FROM)\s+(entries|postings|account_balances|books)\b"
    r"|\b(Entry|Posting|AccountBalance|Book)\.__table__",
    re.IGNORECASE,
)


def test_only_the_writer_writes_the_books() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == WRITER:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_pattern_catches_a_write() -> None:
    assert FORBIDDEN.search("session.execute(insert(Posting), rows)")
    assert FORBIDDEN.search("session.add(AccountBalance(account_id=x))")
    assert FORBIDDEN.search('conn.execute(text("UPDATE account_balances SET posted = 0"))')
    assert FORBIDDEN.search("insert(cast(Table, Posting.__table__))")
    assert not FORBIDDEN.search("select(Entry).where(Entry.id == x)")
