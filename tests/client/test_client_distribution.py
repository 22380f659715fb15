"""The Python client is a distribution of its own (clients/python): it installs and
imports with httpx alone, none of the server's dependencies, and its wheel carries
py.typed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from jifen.kit.clock import utc_now
from jifen.webhooks.delivery import signature_header

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
SUBPROCESS_SECONDS = 120
# What the client must not pull in: the server and its dependencies.
FORBIDDEN = ("jifen", "pydantic", "sqlalchemy", "fastapi", "starlette", "standardwebhooks")


def _closure(name: str) -> set[str]:
    """The distributions `name` needs here, itself included (markers evaluated)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen.add(key)
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _top_level_paths(distribution: str) -> set[Path]:
    dist = metadata.distribution(distribution)
    paths: set[Path] = set()
    for file in dist.files or []:
        top = file.parts[0]
        if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
            continue
        paths.add(Path(str(dist.locate_file(top))))
    return paths


def test_the_client_declares_httpx_alone() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "jifen-client"
    assert [Requirement(r).name for r in project["dependencies"]] == ["httpx"]
    assert project["version"].split(".")[0] == "1"  # the API's major: /v1
    assert project["requires-python"] == ">=3.11"


def test_the_client_imports_and_verifies_with_only_httpx(tmp_path: Path) -> None:
    # A site-packages holding httpx and what it needs, and nothing else.
    site = tmp_path / "site"
    site.mkdir()
    needed = _closure("httpx")
    assert {"httpx", "httpcore", "h11", "anyio", "idna", "certifi"} <= needed
    for distribution in needed:
        for path in _top_level_paths(distribution):
            (site / path.name).symlink_to(path)
    assert not any(name.startswith(FORBIDDEN) for name in (p.name for p in site.iterdir()))

    # A delivery as the server's signer (standardwebhooks) signs it, during a rotation.
    secret, old = "whsec_" + "c2VjcmV0LWtleS1vZi10aGUtZW5kcG9pbnQ=", "whsec_" + "b2xkLWtleQ=="
    body = json.dumps({"type": "points.earned", "timestamp": "2026-11-27T00:00:00Z", "data": {}})
    now = utc_now()
    headers = {
        "webhook-id": "msg_iso",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(secret, old, "msg_iso", now, body.encode()),
    }
    script = f"""
import sys
sys.path[:0] = [{str(CLIENT / "src")!r}, {str(site)!r}]
import jifen_client
from jifen_client import JifenClient, WebhookVerificationError, verify_webhook

with JifenClient("http://127.0.0.1:9", api_key="jfk_test", language="zh-CN") as client:
    pass
event = verify_webhook({old!r}, {headers!r}, {body!r}.encode())
assert event.webhook_id == "msg_iso" and event.type == "points.earned", event
try:
    verify_webhook("whsec_" + "d3Jvbmc=", {headers!r}, {body!r}.encode())
except WebhookVerificationError:
    pass
else:
    raise SystemExit("a wrong secret was accepted")
forbidden = {FORBIDDEN!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(jifen_client.__file__)
print(",".join(loaded) or "-")
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    location, loaded = done.stdout.split()
    assert Path(location).is_relative_to(CLIENT / "src")
    assert loaded == "-"

    # Without httpx in reach, the import fails: the isolation above is real.
    bare = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(CLIENT / 'src')!r}]; import jifen_client",
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        cwd=tmp_path,
    )
    assert bare.returncode != 0 and "No module named 'httpx'" in bare.stderr


def test_the_wheel_carries_the_package_and_py_typed(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info
    shutil.copytree(
        CLIENT, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__")
    )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "wheels").glob("jifen_client-1.*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in archive.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    assert "jifen_client/py.typed" in names
    assert {"jifen_client/__init__.py", "jifen_client/api.py", "jifen_client/webhooks.py"} <= names
    assert not any(name.startswith("jifen/") for name in names)
    assert [Requirement(r).name for r in requires] == ["httpx"]
