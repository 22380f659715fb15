"""Signed checkpoints of every village's chain head (SQLite and PostgreSQL).

The two attacks of issue #14, by someone who can write the database: (1) drop the newest
entries and rewind the head and balances, (2) edit the newest entry and recompute its
hash. Plain `jifen verify` calls both intact; checked against the checkpoints written
outside the database, it fails and names what is missing or changed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import stat
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from jifen.checkpoints import keys
from jifen.checkpoints import service as checkpoints
from jifen.cli import app
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.chain import entry_hash
from jifen.ledger.policy import AccountKind
from jifen.models import Book, Checkpoint, Entry, OutboxEvent, Posting, Village
from tests.factories import account_of, award, make_member, make_township, make_village

runner = CliRunner()


@dataclass
class World:
    township_id: uuid.UUID
    village_a: uuid.UUID  # 3 entries
    village_b: uuid.UUID  # 1 entry
    key_file: Path
    directory: Path


@pytest.fixture
def world(
    db: Database, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    with db.unit_of_work() as session:
        town = make_township(session, code="east", name="东镇")
        ids = []
        for code, entries in (("a", 3), ("b", 1)):
            village = make_village(session, town, code=code, name=f"{code}村")
            account = account_of(
                session, village, AccountKind.MEMBER, make_member(session, village).id
            )
            for points in range(1, entries + 1):
                award(session, settings, village, account, points)
            ids.append(village.id)
    key_file = tmp_path / "checkpoint.key"
    keys.write_new_key(key_file)
    directory = tmp_path / "checkpoints"
    monkeypatch.setenv("JIFEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("JIFEN_CHECKPOINT_KEY_FILE", str(key_file))
    monkeypatch.setenv("JIFEN_CHECKPOINT_DIR", str(directory))
    return World(town.id, ids[0], ids[1], key_file, directory)


def _jifen(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _without_guards(db: Database) -> list[str]:
    """What an attacker with write access to the database does first: switch off the
    triggers that refuse UPDATE and DELETE (for this transaction on PostgreSQL; on the
    test's own copy of the SQLite file)."""
    if db.dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_refuse_{op}"
            for table in ("entries", "postings", "checkpoints")
            for op in ("update", "delete")
        ]
    return ["SET LOCAL session_replication_role = replica"]


def _rewind_newest(db: Database, village_id: uuid.UUID) -> None:
    """Attack 1: drop the newest entry, rewind the head and the balances to match."""
    with db.write_engine.begin() as conn:
        for statement in _without_guards(db):
            conn.execute(text(statement))
        newest = conn.execute(
            select(Entry.id, Entry.seq, Entry.prev_hash)
            .where(Entry.village_id == village_id)
            .order_by(Entry.seq.desc())
            .limit(1)
        ).one()
        lines = conn.execute(
            select(Posting.account_id, Posting.amount).where(Posting.entry_id == newest.id)
        ).all()
        for account_id, amount in lines:
            conn.execute(
                text("UPDATE account_balances SET posted = posted - :a WHERE account_id = :i"),
                {"a": amount, "i": account_id if db.dialect != "sqlite" else account_id.hex},
            )
        conn.execute(text("DELETE FROM postings WHERE entry_id = :i"), {"i": _id(db, newest.id)})
        conn.execute(text("DELETE FROM entries WHERE id = :i"), {"i": _id(db, newest.id)})
        conn.execute(
            text("UPDATE books SET last_seq = :s, last_hash = :h WHERE village_id = :v"),
            {"s": newest.seq - 1, "h": newest.prev_hash, "v": _id(db, village_id)},
        )


def _id(db: Database, value: uuid.UUID) -> object:
    return value.hex if db.dialect == "sqlite" else value


def _edit_newest(db: Database, village_id: uuid.UUID) -> int:
    """Attack 2: change the newest entry's memo and recompute its hash (and the head) with
    the ledger's own hash function."""
    with db.unit_of_work(write=False) as session:
        seq = session.execute(
            select(func.max(Entry.seq)).where(Entry.village_id == village_id)
        ).scalar_one()
        row = session.execute(
            select(Entry).where(Entry.village_id == village_id, Entry.seq == seq)
        ).scalar_one()
        forged = replace(ledger._records(session, [row])[0], memo="伪造的备注")
        forged_hash = entry_hash(forged)
        entry_id = row.id
    with db.write_engine.begin() as conn:
        for statement in _without_guards(db):
            conn.execute(text(statement))
        conn.execute(
            text("UPDATE entries SET memo = :m, hash = :h WHERE id = :i"),
            {"m": forged.memo, "h": forged_hash, "i": _id(db, entry_id)},
        )
        conn.execute(
            text("UPDATE books SET last_hash = :h WHERE village_id = :v"),
            {"h": forged_hash, "v": _id(db, village_id)},
        )
    return int(seq)


def _plain_verify(db: Database, village_id: uuid.UUID) -> ledger.Verification:
    with db.unit_of_work(write=False) as session:
        return ledger.verify_books(session, village_id)


def test_checkpoint_signs_every_head_into_the_file_and_the_database(
    db: Database, world: World, settings: Settings
) -> None:
    code, out = _jifen("checkpoint")
    assert code == 0, out
    assert "[1/2] a a村: head seq 3 signed" in out
    assert "[2/2] b b村: head seq 1 signed" in out
    files = sorted(world.directory.glob("checkpoints-*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert [(line["seq"], line["village_id"]) for line in lines] == [
        (3, str(world.village_a)),
        (1, str(world.village_b)),
    ]
    public = keys.public_key_from_file(Path(f"{world.key_file}.pub"))
    with db.unit_of_work(write=False) as session:
        head = session.get(Book, world.village_a)
        assert head is not None
        assert lines[0]["head_hash"] == head.last_hash
        rows = session.execute(select(Checkpoint).order_by(Checkpoint.seq)).scalars().all()
        assert [(r.seq, r.head_hash) for r in rows] == [
            (1, lines[1]["head_hash"]),
            (3, head.last_hash),
        ]
        for row in rows:
            assert keys.signature_holds(public, checkpoints.statement_of(row), row.signature)
            assert row.key_id == keys.key_id_of(public)
    # Integrators hear of each: one more copy outside the database.
    with db.unit_of_work(write=False) as session:
        sent = session.execute(
            select(OutboxEvent).where(OutboxEvent.type == "checkpoint.written")
        ).scalars()
        by_village = {e.village_id: e.payload["checkpoint"] for e in sent}
    assert by_village[world.village_a]["seq"] == 3
    assert by_village[world.village_a]["signature"] == lines[0]["signature"]
    # Each line is self-contained: its signature holds over the rest of it.
    for line in lines:
        signature = line.pop("signature")
        message = json.dumps(line, sort_keys=True, separators=(",", ":")).encode()
        public.verify(base64.b64decode(signature), message)

    code, out = _jifen("verify", "--all")
    assert code == 0, out
    assert "[1/2] a a村: intact, 3 entries; matches 1 checkpoints, latest at seq 3" in out
    # New entries after the checkpoint: the head is beyond it, which is fine.
    with db.unit_of_work() as session:
        village = session.get(Village, world.village_b)
        assert village is not None
        member = account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
        award(session, settings, village, member, 5)
    code, out = _jifen("verify", "--village", "b")
    assert code == 0 and "intact, 2 entries; matches 1 checkpoints, latest at seq 1" in out
    code, out = _jifen("checkpoint", "--township", "east")
    assert code == 0, out
    assert "b b村: head seq 2 signed" in out
    code, out = _jifen("verify", "--all")
    assert code == 0 and "b b村: intact, 2 entries; matches 2 checkpoints, latest at seq 2" in out


@pytest.mark.tampers
def test_rewinding_the_newest_entries_is_caught(db: Database, world: World) -> None:
    assert _jifen("checkpoint")[0] == 0
    _rewind_newest(db, world.village_a)
    _rewind_newest(db, world.village_a)

    # The issue: the chain alone still verifies.
    plain = _plain_verify(db, world.village_a)
    assert plain.is_intact and plain.last_seq == 1
    code, out = _jifen("verify", "--all", "--checkpoints", str(world.directory / "nothing"))
    assert code == 2 and "no such file" in out
    # Against the checkpoints outside the database it does not.
    code, out = _jifen("verify", "--all")
    assert code == 1, out
    assert "a a村: CHECKPOINT MISMATCH: entries after sequence 1 missing (checkpoint had 3)" in out
    assert "b b村: intact, 1 entries; matches 1 checkpoints" in out
    assert out.splitlines()[-1] == "1 of 2 villages intact, 1 BROKEN"
    code, out = _jifen("verify", "--village", "a", "--checkpoints", str(world.directory))
    assert code == 1 and "entries after sequence 1 missing (checkpoint had 3)" in out

    # The schedule does not bless the rewound chain: village a is not signed again.
    code, out = _jifen("checkpoint")
    assert code == 1, out
    assert "a a村: NOT SIGNED: entries after sequence 1 missing (checkpoint had 3)" in out
    assert "1 of 2 village heads signed" in out

    # Nor does deleting the database's checkpoints help: the file still has them.
    with db.write_engine.begin() as conn:
        for statement in _without_guards(db):
            conn.execute(text(statement))
        conn.execute(text("DELETE FROM checkpoints"))
    assert _jifen("checkpoint")[0] == 0
    code, out = _jifen("verify", "--all")
    assert code == 1
    assert "entries after sequence 1 missing (checkpoint had 3)" in out


@pytest.mark.tampers
def test_editing_the_newest_entry_and_rehashing_it_is_caught(db: Database, world: World) -> None:
    assert _jifen("checkpoint")[0] == 0
    seq = _edit_newest(db, world.village_a)
    assert seq == 3
    assert _plain_verify(db, world.village_a).is_intact

    code, out = _jifen("verify", "--all")
    assert code == 1, out
    assert "a a村: CHECKPOINT MISMATCH: entry #3 hash changed" in out
    code, out = _jifen("checkpoint")
    assert code == 1 and "a a村: NOT SIGNED: entry #3 hash changed" in out


@pytest.mark.tampers
def test_a_forged_or_altered_checkpoint_fails_its_signature(db: Database, world: World) -> None:
    assert _jifen("checkpoint")[0] == 0
    # The attacker rewinds village a and edits the file's line to match the rewound head:
    # the signature no longer holds.
    [path] = world.directory.glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    _rewind_newest(db, world.village_a)
    with db.unit_of_work(write=False) as session:
        head = session.get(Book, world.village_a)
        assert head is not None
        lines[0].update(seq=head.last_seq, head_hash=head.last_hash)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out = _jifen("verify", "--all")
    assert code == 1, out
    assert "a a村: CHECKPOINT MISMATCH: signature invalid: checkpoint of" in out

    # A forged row in the database copy stops the schedule from signing that village.
    with db.write_engine.begin() as conn:
        for statement in _without_guards(db):
            conn.execute(text(statement))
        conn.execute(
            text("UPDATE checkpoints SET signature = :s WHERE village_id = :v"),
            {"s": base64.b64encode(b"x" * 64).decode(), "v": _id(db, world.village_b)},
        )
    code, out = _jifen("checkpoint")
    assert code == 1 and "b b村: NOT SIGNED: the last checkpoint (" in out
    assert "does not verify" in out

    # A line that is not a checkpoint at all is not skipped silently.
    with path.open("a") as more:
        more.write("{not json\n")
    code, out = _jifen("verify", "--village", "b")
    assert code == 1 and "unreadable checkpoint line" in out


def test_a_checkpoint_signed_by_another_key_is_not_trusted(
    db: Database, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _jifen("checkpoint")[0] == 0
    # The key is rotated: the old checkpoints are signed by a key not configured now.
    rotated = tmp_path / "rotated.key"
    keys.write_new_key(rotated)
    monkeypatch.setenv("JIFEN_CHECKPOINT_KEY_FILE", str(rotated))
    code, out = _jifen("verify", "--all")
    assert code == 1
    assert "which is not trusted here" in out
    # ...until the old public key is given.
    code, out = _jifen("verify", "--all", "--public-key", f"{world.key_file}.pub")
    assert code == 0, out

    # With no key at all, checkpoints cannot be checked: refused, not skipped.
    monkeypatch.delenv("JIFEN_CHECKPOINT_KEY_FILE")
    code, out = _jifen("verify", "--all")
    assert code == 2 and "no key to check them with" in out
    # An auditor needs only the file and the public key.
    code, out = _jifen("verify", "--all", "--public-key", f"{world.key_file}.pub")
    assert code == 0, out


def test_tick_writes_checkpoints_on_schedule(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = _jifen("tick")
    assert code == 0, out
    assert "checkpoint: a a村: head seq 3 signed" in out
    assert "2 village heads signed into checkpoints" in out
    code, out = _jifen("tick")
    assert code == 0
    assert "checkpoints: not due (every 60 minutes)" in out
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(func.count(Checkpoint.id))).scalar_one() == 2
        later = utc_now() + timedelta(minutes=61)
        assert checkpoints.is_due(session, now=later, every_minutes=60)
        assert not checkpoints.is_due(session, now=later, every_minutes=120)
        # A checkpoint dated ahead of now (a forged row, a clock jump) does not stop it.
        earlier = utc_now() - timedelta(minutes=5)
        assert checkpoints.is_due(session, now=earlier, every_minutes=60)

    monkeypatch.delenv("JIFEN_CHECKPOINT_KEY_FILE")
    code, out = _jifen("tick")
    assert code == 0
    assert "checkpoints: skipped: no key configured" in out


def test_checkpoint_refuses_without_a_key_or_a_directory(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIFEN_CHECKPOINT_DIR")
    code, out = _jifen("checkpoint")
    assert code == 2 and "JIFEN_CHECKPOINT_DIR is not set" in out
    monkeypatch.delenv("JIFEN_CHECKPOINT_KEY_FILE")
    code, out = _jifen("checkpoint")
    assert code == 2 and "no signing key" in out
    # A secret in the environment works as well as a file.
    seed = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("JIFEN_CHECKPOINT_KEY", seed)
    monkeypatch.setenv("JIFEN_CHECKPOINT_DIR", str(world.directory))
    code, out = _jifen("checkpoint")
    assert code == 0, out
    monkeypatch.setenv("JIFEN_CHECKPOINT_KEY", "not a key")
    code, out = _jifen("checkpoint")
    assert code == 2 and "JIFEN_CHECKPOINT_KEY" in out
    code, out = _jifen("checkpoint", "--township", "north")
    assert code == 2


def test_keygen_writes_an_owner_only_key_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "signing.key"
    code, out = _jifen("checkpoint-keygen", "--out", str(target))
    assert code == 0, out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    private = keys.private_key_from_file(target)
    public = keys.public_key_from_file(Path(f"{target}.pub"))
    assert keys.key_id_of(private.public_key()) == keys.key_id_of(public)
    assert keys.key_id_of(public) in out
    before = target.read_bytes()
    code, out = _jifen("checkpoint-keygen", "--out", str(target))
    assert code == 2 and "not overwritten" in out
    assert target.read_bytes() == before
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello")
    with pytest.raises(keys.KeyUnusable):
        keys.private_key_from_file(garbage)


def test_settings_refuse_two_keys_and_a_zero_interval() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(checkpoint_key_file="/k", checkpoint_key="AAAA")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least 1"):
        Settings(checkpoint_every_minutes=0)


def test_the_api_serves_the_public_keys_and_the_latest_checkpoints(
    db: Database, world: World, client: TestClient, settings: Settings
) -> None:
    none_yet = client.get(f"/v1/villages/{world.village_a}/checkpoints")
    assert none_yet.status_code == 200 and none_yet.json() == []
    assert client.get(f"/v1/villages/{uuid.uuid4()}/checkpoints").status_code == 404
    assert client.get(f"/v1/villages/{world.village_a}/checkpoints?limit=0").status_code == 422
    assert client.get(f"/v1/townships/{world.township_id}/checkpoints/latest").json() == []
    assert _jifen("checkpoint")[0] == 0

    listed = client.get("/v1/checkpoint-keys")
    assert listed.status_code == 200
    [key] = listed.json()
    pinned = keys.public_key_from_file(Path(f"{world.key_file}.pub"))
    assert key["key_id"] == keys.key_id_of(pinned)
    assert key["algorithm"] == "Ed25519"
    assert key["is_signing"] is False  # the test app's settings carry no key
    assert key["public_key_pem"] == keys.public_pem(pinned)

    assert _jifen("checkpoint")[0] == 0
    listed_a = client.get(f"/v1/villages/{world.village_a}/checkpoints")
    assert listed_a.status_code == 200
    assert [c["seq"] for c in listed_a.json()] == [3, 3]
    body = client.get(f"/v1/villages/{world.village_a}/checkpoints?limit=1").json()[0]
    assert body["seq"] == 3
    # An auditor checks the signature with nothing but the answer and the pinned key.
    pinned.verify(base64.b64decode(body["signature"]), body["signed_statement"].encode())
    assert json.loads(body["signed_statement"])["head_hash"] == body["head_hash"]

    town = client.get(f"/v1/townships/{world.township_id}/checkpoints/latest")
    assert town.status_code == 200
    assert sorted(c["seq"] for c in town.json()) == [1, 3]
    assert {c["signed_at"] for c in town.json()} == {body["signed_at"]}
    assert client.get(f"/v1/townships/{uuid.uuid4()}/checkpoints/latest").status_code == 404


def test_checkpoints_are_append_only_in_the_database(db: Database, world: World) -> None:
    assert _jifen("checkpoint")[0] == 0
    with pytest.raises(Exception, match="append-only"), db.write_engine.begin() as conn:
        conn.execute(text("UPDATE checkpoints SET seq = 0"))
    with pytest.raises(Exception, match="append-only"), db.write_engine.begin() as conn:
        conn.execute(text("DELETE FROM checkpoints"))


def test_a_checkpoint_file_held_by_another_run_is_waited_for_a_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utc_now()
    target = checkpoints.file_for(tmp_path, now)
    monkeypatch.setattr(checkpoints, "LOCK_WAIT_SECONDS", 0.3)
    with target.open("a") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)  # another run, stuck mid-append
        with pytest.raises(checkpoints.CheckpointFileBusy, match="locked by another run"):
            checkpoints.append(tmp_path, [], now)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    # Free again: the append goes through.
    assert checkpoints.append(tmp_path, [], now) == target
