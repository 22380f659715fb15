"""`jifen seed-demo` as a newcomer meets it (issues #12, #13): 清泉村's board published
under an open monthly notice list with one undecided objection, shown by the public
display; and the seed's closing block, which names each guide, the settings it takes from
the env file (checked against the guides themselves) and a first command that runs
against a real server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database
from jifen.demo import guides as demo_guides
from jifen.demo.seed import seed
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.main import create_app
from jifen.models import Board, NoticeList, NoticeListItem, NoticeObjection, Village
from tests.client.test_client_e2e import serve  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "guides"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
USED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
ASSIGNED = re.compile(r"(?:^|[\s;(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=|\bfor\s+(\w+)\s+in\b")
# What the reader's shell or server already has: not the env file's to provide.
READERS_OWN = {"JIFEN_URL", "JIFEN_METRICS_TOKEN", "JIFEN_DATABASE_URL", "PWD", "HOME", "PATH"}
SECONDS = 300


def test_the_demo_village_has_a_board_under_notice_with_one_objection(
    db: Database, settings: Settings
) -> None:
    seed(db, settings, echo=lambda _line: None)
    clock = ledger.Clock(now=utc_now(), settings=settings)
    today = clock.local_date(clock.now)
    with db.unit_of_work(write=False) as session:
        village = session.execute(select(Village).where(Village.code == "qingquan")).scalar_one()
        [board] = session.execute(select(Board).where(Board.village_id == village.id)).scalars()
        [notice_list] = session.execute(
            select(NoticeList).where(NoticeList.village_id == village.id)
        ).scalars()
        items = list(
            session.execute(
                select(NoticeListItem).where(NoticeListItem.list_id == notice_list.id)
            ).scalars()
        )
        objections = list(session.execute(select(NoticeObjection)).scalars())
        pending = {
            i.entry_id for i in items if ledger.get_entry(session, i.entry_id).status == "pending"
        }
    # Last month's board, published; its three households' points pending under last
    # month's list, which is open today (opens on the 1st, runs 31 days).
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    assert board.status == "published" and board.period_start_on == last_month
    assert notice_list.state == "open" and notice_list.mode == "before"
    assert notice_list.period_start_on == last_month
    assert notice_list.opens_on <= today < notice_list.closes_on
    assert len(items) == 3 and pending == {i.entry_id for i in items}
    # Exactly one objection, against one of the board's entries, undecided.
    assert [(o.list_id, o.state, o.decided_on) for o in objections] == [
        (notice_list.id, "open", None)
    ]
    assert objections[0].entry_id in pending

    # The public display shows them, names masked.
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as http:
        root = "/public/townships/zhongzi/villages/qingquan"
        [shown] = http.get(f"{root}/boards").json()["boards"]
        detail = http.get(f"{root}/boards/{shown['id']}").json()
        assert [
            (e["name"], e["side"], e["points"], e["points_state"]) for e in detail["entries"]
        ] == [
            ("王*国户", "red", 5, "pending"),
            ("刘*春户", "red", 5, "pending"),
            ("张*福户", "black", -2, "pending"),
        ]
        [listed] = http.get(f"{root}/notice-lists").json()["lists"]
        assert (listed["state"], listed["item_count"]) == ("open", 3)
        shown_list = http.get(f"{root}/notice-lists/{listed['id']}").json()
        assert [(i["name"], i["state"], i["objections"]) for i in shown_list["items"]] == [
            ("王*国户", "pending", []),
            ("刘*春户", "pending", []),
            (
                "张*福户",
                "pending",
                [
                    {
                        "kind": "objection",
                        "state": "open",
                        "raised_on": str(objections[0].raised_on),
                        "decided_on": None,
                    }
                ],
            ),
        ]
        page = http.get("/p/zhongzi/qingquan")
        assert page.status_code == 200 and "张*福户" in page.text and "公示中" in page.text


def _used_from_env_file(guide: Path) -> set[str]:
    """The variables a guide's blocks use that neither the guide sets nor the reader has."""
    text = "\n".join(BLOCK.findall(guide.read_text(encoding="utf-8")))
    used = set(USED.findall(text))
    assigned = {name for pair in ASSIGNED.findall(text) for name in pair if name}
    return used - assigned - READERS_OWN


def _env_file(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0]
    return found


def test_the_seed_tells_a_newcomer_what_to_try_in_each_guide(
    backend: str,
    database_url: str,
    serve: Callable[..., str],  # noqa: F811
    tmp_path: Path,
) -> None:
    if backend != "sqlite":
        pytest.skip("the seed's output is the same on either database")
    # Every guide there is, and only those, with what it really takes from the env file.
    assert {g.path for g in demo_guides.GUIDES} == {
        str(p.relative_to(ROOT)) for p in GUIDES.glob("*.md")
    }
    for guide in demo_guides.GUIDES:
        assert set(guide.variables) == _used_from_env_file(ROOT / guide.path), guide.path

    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url, "PATH": path}
    seeded = subprocess.run(
        [sys.executable, "-m", "jifen", "seed-demo", "--env-file", "demo.env"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    written = _env_file(tmp_path / "demo.env")
    output = seeded.stdout
    closing = output[output.index("Try a guide") :]
    for guide in demo_guides.GUIDES:
        assert guide.path in closing
        assert f"uses {', '.join('$' + n for n in guide.variables)}" in closing
        assert f"first: source demo.env && {guide.first}" in closing
        missing = set(guide.variables) - set(written)
        assert not missing, f"{guide.path} uses {missing}, not in demo.env"
    assert "http://127.0.0.1:8000/p/zhongzi/qingquan" in closing

    # Each first command runs, as printed, against a real server of the seeded database.
    missing_tools = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing_tools:
        if os.environ.get("JIFEN_TEST_REQUIRE_GUIDES", "") not in ("", "0"):
            pytest.fail(f"JIFEN_TEST_REQUIRE_GUIDES is set but {missing_tools} missing")
        pytest.skip(f"needs {', '.join(missing_tools)}")
    base = serve()
    for guide in demo_guides.GUIDES:
        command = f"source demo.env && {guide.first}".replace(demo_guides.BASE_URL, base)
        ran = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=SECONDS,
        )
        assert ran.returncode == 0, f"{guide.path}: {ran.stdout}\n{ran.stderr}"
        assert ran.stdout.strip(), guide.path
