"""Fixtures of the liveness tests: a throwaway PostgreSQL cluster and a real `jifen serve`.

The cluster is the test's own (initdb in a temporary directory, on a free port), because
the tests stop, restart and freeze it — which must never happen to the shared server on
port 5432. PostgreSQL refuses to run as root, so as root its programs run as the
`postgres` user (runuser). Every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psycopg
import pytest

from jifen.access import service as access
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.migrate import upgrade

JIFEN = [sys.executable, "-m", "jifen"]
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
POSTGRES_USER = "postgres"
DATABASE_NAME = "jifen"
DEADLINE_SECONDS = 30.0
# Starting a process (initdb, PostgreSQL, `jifen serve` importing the app) takes seconds
# on a quiet machine and far more on two cores busy with the rest of the suite; what the
# tests measure has bounds of its own.
STARTUP_DEADLINE_SECONDS = 120.0
POLL_SECONDS = 0.05


def poll(ready: Callable[[], bool], what: str, deadline: float = DEADLINE_SECONDS) -> float:
    """Call `ready` until it is true; the seconds that took. Fails past the deadline."""
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > deadline:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip a test that cannot make its cluster; in CI (CI is set), fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: not skipping)")
    pytest.skip(reason)


# --- a throwaway PostgreSQL cluster ---------------------------------------------------------


def _version(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _postgres_bin() -> Path:
    found = [
        path
        for path in map(Path, glob.glob(POSTGRES_BIN_GLOB))
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "postgres"))
    ]
    if not found:
        unavailable(f"no PostgreSQL binaries in {POSTGRES_BIN_GLOB}")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            unavailable("running as root, and runuser (to run PostgreSQL as postgres) is missing")
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            unavailable(f"running as root, and there is no {POSTGRES_USER!r} user")
    return max(found, key=_version)


def _as_owner(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: as root, run its programs as the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_USER, "--", *command]
    return command


def _run(command: list[str], timeout: float = STARTUP_DEADLINE_SECONDS) -> None:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")


@dataclass
class Cluster:
    """One PostgreSQL cluster in a temporary directory, for one test."""

    bin_dir: Path
    root: Path
    port: int = 0
    frozen_pids: list[int] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def init(self) -> None:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(POSTGRES_USER)
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                POSTGRES_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )

    def start(self) -> float:
        """Start the server (on `port`) and wait until it accepts connections; seconds."""
        started = time.monotonic()
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
            ]
        )
        _run(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                str(int(STARTUP_DEADLINE_SECONDS)),
                "-o",
                options,
            ],
            timeout=STARTUP_DEADLINE_SECONDS + 10,
        )
        poll(
            self.accepts_connections,
            f"PostgreSQL on port {self.port} to accept connections",
            STARTUP_DEADLINE_SECONDS,
        )
        return time.monotonic() - started

    def stop(self, mode: str) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w"])

    def accepts_connections(self) -> bool:
        try:
            self.connect("postgres").close()
        except psycopg.OperationalError:
            return False
        return True

    def connect(self, dbname: str = DATABASE_NAME) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=POSTGRES_USER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=2,
        )

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def processes(self) -> list[int]:
        """The postmaster and its children (the backends and auxiliary processes)."""
        postmaster = self.postmaster_pid()
        if postmaster is None:
            return []
        return [postmaster, *_children(postmaster)]

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: it keeps its sockets and answers nothing."""
        postmaster = self.postmaster_pid()
        assert postmaster is not None, "the cluster is not running"
        # The postmaster first, so that it forks no child after the children are listed;
        # then until a listing finds no child that was not stopped yet.
        os.kill(postmaster, signal.SIGSTOP)
        self.frozen_pids.append(postmaster)
        while True:
            new = [pid for pid in _children(postmaster) if pid not in self.frozen_pids]
            if not new:
                return
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                self.frozen_pids.append(pid)

    def thaw(self) -> None:
        for pid in reversed(self.frozen_pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen_pids.clear()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Frozen inside the block; thawed on the way out, whatever happened inside."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def remove(self) -> None:
        """Stop the cluster if it runs (thawed first), delete its directory."""
        self.thaw()
        if self.postmaster_pid() is not None and self.data_dir.exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                # pg_ctl could not stop it: end the processes this test started.
                for pid in self.processes():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _children(parent: int) -> list[int]:
    """Processes whose parent is `parent`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A running throwaway cluster with a migrated database `jifen`; removed afterwards."""
    bin_dir = _postgres_bin()
    cluster = Cluster(bin_dir, Path(tempfile.mkdtemp(prefix="jifen-pg-")))
    try:
        cluster.init()
        for attempt in range(3):
            cluster.port = free_port()
            try:
                cluster.start()
                break
            except RuntimeError:
                # Another process took the port between free_port() and the start.
                if attempt == 2:
                    raise
        with cluster.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE_NAME}")
        upgrade(cluster.url)
        yield cluster
    finally:
        cluster.remove()


# --- a real server --------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `jifen serve` on a database with extra JIFEN_* settings; stopped afterwards."""
    started: list[Server] = []

    def start(database_url: str, **settings: str) -> Server:
        port = free_port()
        env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
        env.update({f"JIFEN_{name.upper()}": value for name, value in settings.items()})
        log = (tmp_path / f"server-{port}.log").open("w+b")
        process = subprocess.Popen(
            [*JIFEN, "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        started.append(server)

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {server.output()}")
            try:
                return httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        poll(answers, "the server to answer", STARTUP_DEADLINE_SECONDS)
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)
        server.log.close()


def admin_key(database_url: str) -> str:
    """A platform administrator's key, made as `jifen create-admin` makes one (here, not
    in a second Python process: that costs seconds on a busy machine)."""
    database = Database(Settings(database_url=database_url))
    try:
        with database.unit_of_work() as session:
            _user, key = access.create_platform_admin(
                session, name="liveness", username=None, password=None, now=utc_now()
            )
    finally:
        database.dispose()
    return key
