"""The guides in docs/guides, run as written against a real server on the demo.

Each guide's ```sh blocks run in order in one bash process (`set -euo pipefail`), in a
directory holding the `demo.env` that `jifen seed-demo --env-file demo.env` wrote for a
freshly seeded database, with JIFEN_URL pointing at a `jifen serve` of that database. A
block fails the test when any command in it fails (the guides use `curl -f` where an
answer must be a success, and `test` where they compare). A line `# make run` is what
the reader does in another terminal: the test has done it. Skipped where bash, curl or
jq is missing, unless JIFEN_TEST_REQUIRE_GUIDES is set (CI sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.test_client_e2e import serve  # noqa: F401  (fixture)

GUIDES = Path(__file__).resolve().parents[1] / "docs" / "guides"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
RUN_SECONDS = 300
METRICS_TOKEN = "guide-metrics-token"


def blocks(guide: Path) -> list[str]:
    return BLOCK.findall(guide.read_text(encoding="utf-8"))


def test_every_guide_has_runnable_blocks() -> None:
    guides = sorted(GUIDES.glob("*.md"))
    assert guides, "docs/guides is empty"
    for guide in guides:
        assert blocks(guide), f"{guide.name} has no ```sh block to run"


@pytest.mark.parametrize("guide", sorted(p.name for p in GUIDES.glob("*.md")))
def test_guide_runs_against_the_demo(
    guide: str,
    backend: str,
    database_url: str,
    serve: Callable[..., str],  # noqa: F811
    tmp_path: Path,
) -> None:
    if backend != "sqlite":
        pytest.skip("the guides run once, on the embedded database")
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("JIFEN_TEST_REQUIRE_GUIDES", "") not in ("", "0"):
            pytest.fail(f"JIFEN_TEST_REQUIRE_GUIDES is set but {', '.join(missing)} missing")
        pytest.skip(f"needs {', '.join(missing)}")
    # The virtualenv's `jifen` first on the PATH, as after `. .venv/bin/activate`.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url, "PATH": path}
    seeded = subprocess.run(
        [sys.executable, "-m", "jifen", "seed-demo", "--env-file", "demo.env"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    base = serve(metrics_token=METRICS_TOKEN)
    script = tmp_path / "guide.sh"
    script.write_text("set -euo pipefail\n" + "\n".join(blocks(GUIDES / guide)), encoding="utf-8")
    ran = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env={**env, "JIFEN_URL": base, "JIFEN_METRICS_TOKEN": METRICS_TOKEN},
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, f"{guide} failed:\n{ran.stdout}\n{ran.stderr}"
