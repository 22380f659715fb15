"""Benchmark of jifen's ledger on SQLite: booking throughput and balance-read latency.

Figures:

1. Entries per second booked ONE PER HTTP REQUEST over real HTTP: a `jifen serve`
   subprocess on a fresh SQLite file, and a load generator in another process (a raw
   HTTP/1.1 keep-alive client on asyncio, much cheaper than httpx) keeping several
   requests in flight. For each SQLite synchronous mode (FULL, NORMAL). To show the
   figure is the server's and not the client's, the client's own ceiling is measured
   against a stub HTTP server, and the framework's against GET /healthz.
2. Entries per second booked through the service layer in batches (in-process, one
   unit of work per batch, `ledger.service.book()` per entry).
3. Balance-read latency at a small and a large number of entries in one village's
   books, through the service (each read its own read unit of work) and over HTTP, and
   the ratio p50(large) / p50(small) (the project's goal is <= 1.2). A copy of the
   books is kept at the small size and the reads of both sizes are interleaved, so a
   busy spell of the machine cannot land on one size only.

Run `.venv/bin/python bench/bench_ledger.py --help` for the knobs; `--quick` is a smoke
run of a few minutes. `--profile` adds a cProfile of the booking path, in-process and
in the server, and of the balance read, with the time spent per SQL statement.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import bisect
import contextlib
import io
import itertools
import json
import math
import os
import platform
import pstats
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

if TYPE_CHECKING:
    import uuid

    from jifen.config import Settings
    from jifen.db import Database

T = TypeVar("T")

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
OUT_DIR = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
ACTOR = "bench"
ENTRY_CODE = "labor_award"
AWARD_POINTS = 2
RATIO_GOAL = 1.2

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


# --- statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in microseconds (nearest-rank)."""

    count: int
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float
    mean_us: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Latency:
        if not samples_ns:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        ordered = sorted(samples_ns)
        n = len(ordered)

        def pct(q: float) -> float:
            return ordered[max(0, math.ceil(q * n) - 1)] / 1000

        return cls(n, pct(0.50), pct(0.90), pct(0.99), ordered[-1] / 1000, sum(ordered) / n / 1000)

    def brief(self) -> str:
        return f"p50 {_dur(self.p50_us)}, p99 {_dur(self.p99_us)} (n={self.count:,})"


def _dur(us: float) -> str:
    if math.isnan(us):
        return "n/a"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the load generator (runs in its own process: `_loadgen SPEC`) ------------------------


@dataclass
class LoadSpec:
    label: str
    port: int
    requests: list[str]  # raw HTTP/1.1 requests (latin-1), sent round-robin
    expect_status: int
    total: int
    warmup: int
    concurrency: int
    max_seconds: float
    progress_seconds: float
    server_pid: int | None = None
    cpu: int | None = None  # pin the load generator to this CPU
    return_samples: bool = False  # send back every latency, not only percentiles
    result_path: str = ""


@dataclass(frozen=True)
class LoadResult:
    label: str
    concurrency: int
    requests: int  # sent
    ok: int  # answered with the expected status
    warmup_ok: int
    errors: int
    error_samples: list[str]
    seconds: float
    rps: float
    latency: Latency
    client_cpu_pct: float
    server_cpu_pct: float | None
    samples_ns: list[int] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(**{**data, "latency": Latency(**data["latency"])})

    def details(self) -> str:
        server = "n/a" if self.server_cpu_pct is None else f"{self.server_cpu_pct:.0f}%"
        return (
            f"{self.latency.brief()}, errors {self.errors}, "
            f"CPU server {server} / client {self.client_cpu_pct:.0f}%"
        )

    def brief(self) -> str:
        return f"{self.rps:,.0f} req/s, {self.details()}"


# Whether `jifen serve` runs the webhook delivery worker in its process (as it does by
# default); set by --no-webhook-worker.
WEBHOOK_WORKER = [True]

# The platform administrator's API key of the database being benchmarked over HTTP.
_API_KEY: list[str] = []


def migrate_with_key(url: str, synchronous: str, work: Path) -> None:
    """Migrate a fresh database and make the administrator whose key the load uses."""
    for command in (["migrate"], ["create-admin", "--name", ACTOR, "--key-only"]):
        done = subprocess.run(
            [*jifen_cmd(), *command],
            env=server_env(url, synchronous),
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    _API_KEY[:] = [done.stdout.strip()]


def auth_header() -> str:
    return f"Bearer {_API_KEY[0]}"


def http_request(method: str, path: str, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    if _API_KEY:  # the stub and /healthz need none
        lines.append(f"Authorization: {auth_header()}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class _Pass:
    """Shared state of one pass of the load generator (one event loop, no locks needed).

    Every request taken ends as a response (ok, or an error if its status is not the
    expected one) or as a transport failure (an error)."""

    def __init__(self, total: int, max_seconds: float, expect_status: int) -> None:
        self.total = total
        self.deadline = time.perf_counter() + max_seconds
        self.expect_status = expect_status
        self.issued = 0
        self.finished = 0
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.latencies_ns: list[int] = []  # of every response, errors included

    def take(self) -> int | None:
        if self.issued >= self.total or time.perf_counter() > self.deadline:
            return None
        self.issued += 1
        return self.issued - 1

    def record(self, status: int, body: bytes, elapsed_ns: int) -> None:
        self.latencies_ns.append(elapsed_ns)
        if status == self.expect_status:
            self.finished += 1
            self.ok += 1
        else:
            self.fail(f"HTTP {status}: {body[:300]!r}")

    def fail(self, what: str) -> None:
        self.finished += 1
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: (status, body, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"\r\nconnection: close" not in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : end])
        return status, (await reader.readexactly(length) if length else b""), keep_alive
    if b"\r\ntransfer-encoding: chunked" in lower:
        parts: list[bytes] = []
        for _ in range(100_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(parts), keep_alive
            parts.append((await reader.readexactly(size + 2))[:-2])
        raise ValueError("too many chunks")
    return status, await reader.read(), False


async def _connection(spec: LoadSpec, requests: list[bytes], state: _Pass) -> None:
    """One keep-alive connection sending requests one after the other (no pipelining)."""
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while (i := state.take()) is not None:
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(HOST, spec.port)
                start = time.perf_counter_ns()
                writer.write(requests[i % len(requests)])
                status, body, keep_alive = await _read_response(reader)
                elapsed = time.perf_counter_ns() - start
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ) as e:
                state.fail(f"{type(e).__name__}: {e}")
                if writer is not None:
                    writer.close()
                writer = reader = None
                continue
            state.record(status, body, elapsed)
            if not keep_alive:
                writer.close()
                writer = reader = None
    finally:
        if writer is not None:
            writer.close()


async def _progress(label: str, state: _Pass, every: float) -> None:
    start = last_t = time.perf_counter()
    last_done = 0
    while True:
        await asyncio.sleep(every)
        now, done = time.perf_counter(), state.finished
        print(
            f"          [{label}] {done:,}/{state.total:,} requests, "
            f"{done / (now - start):,.0f} req/s (last {now - last_t:.0f} s: "
            f"{(done - last_done) / (now - last_t):,.0f}), errors {state.errors}",
            flush=True,
        )
        last_t, last_done = now, done


async def _load_pass(spec: LoadSpec, requests: list[bytes], total: int) -> _Pass:
    state = _Pass(total, spec.max_seconds, spec.expect_status)
    reporter = asyncio.create_task(_progress(spec.label, state, spec.progress_seconds))
    workers = [
        asyncio.create_task(_connection(spec, requests, state))
        for _ in range(max(1, min(spec.concurrency, total)))
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout=spec.max_seconds + 30)
    finally:
        reporter.cancel()
        for worker in workers:
            worker.cancel()
    return state


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is there (it is in requirements.lock), else on asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def loadgen_main(argv: list[str]) -> int:
    spec = LoadSpec(**json.loads(Path(argv[0]).read_text()))
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})
    requests = [r.encode("latin-1") for r in spec.requests]
    warmup_ok = 0
    if spec.warmup:
        warm = _run_async(_load_pass(spec, requests, spec.warmup))
        warmup_ok = warm.ok
        if warm.errors:
            print(f"          [{spec.label}] warm-up errors: {warm.error_samples}", flush=True)
    cpu0, server0, t0 = self_cpu_seconds(), proc_cpu_seconds(spec.server_pid), time.perf_counter()
    state = _run_async(_load_pass(spec, requests, spec.total))
    seconds = time.perf_counter() - t0
    cpu1, server1 = self_cpu_seconds(), proc_cpu_seconds(spec.server_pid)
    server_pct = None if server0 is None or server1 is None else (server1 - server0) / seconds * 100
    result = LoadResult(
        label=spec.label,
        concurrency=spec.concurrency,
        requests=state.issued,
        ok=state.ok,
        warmup_ok=warmup_ok,
        errors=state.errors + (spec.total - state.issued),  # unsent requests are errors too
        error_samples=state.error_samples,
        seconds=seconds,
        rps=state.ok / seconds if seconds else 0.0,
        latency=Latency.of(state.latencies_ns),
        client_cpu_pct=(cpu1 - cpu0) / seconds * 100,
        server_cpu_pct=server_pct,
        samples_ns=state.latencies_ns if spec.return_samples else None,
    )
    Path(spec.result_path).write_text(json.dumps(asdict(result)))
    return 0


# --- a stub HTTP server, to measure the load generator's own ceiling (`_stub-server`) ------

_STUB_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: application/json\r\n\r\n"
    b'{"status":"ok"}'
)


class _StubProtocol(asyncio.Protocol):
    """Answers every bodiless request with a fixed 200: as cheap as a server gets."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        complete = self.buffer.count(b"\r\n\r\n")
        if complete and self.transport is not None:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(_STUB_RESPONSE * complete)


def stub_server_main(argv: list[str]) -> int:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_StubProtocol, HOST, int(argv[0]))
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        _run_async(serve())
    return 0


# --- timing of SQL statements, and the profiled server (`_profiled-serve`) ----------------


class SqlTimer:
    """Wall time per SQL statement (and per DBAPI commit/rollback), across all engines."""

    def __init__(self) -> None:
        self.stats: dict[str, list[int]] = {}  # statement -> [calls, total ns]
        self._lock = threading.Lock()
        self._patched: dict[str, Any] = {}

    def _add(self, key: str, elapsed_ns: int) -> None:
        with self._lock:
            entry = self.stats.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += elapsed_ns

    def _before(self, conn: Any, _cursor: Any, _stmt: str, *_args: Any) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter_ns())

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info["bench_t0"].pop()
        self._add(" ".join(statement.split())[:110], time.perf_counter_ns() - started)

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        for name in ("do_commit", "do_rollback"):
            original = getattr(SQLiteDialect_pysqlite, name)
            self._patched[name] = SQLiteDialect_pysqlite.__dict__.get(name)
            setattr(SQLiteDialect_pysqlite, name, self._timed(original, f"<DBAPI {name}>"))

    def _timed(self, original: Callable[..., None], key: str) -> Callable[..., None]:
        def timed(dialect: Any, dbapi_connection: Any) -> None:
            started = time.perf_counter_ns()
            try:
                original(dialect, dbapi_connection)
            finally:
                self._add(key, time.perf_counter_ns() - started)

        return timed

    def uninstall(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)
        for name, own in self._patched.items():
            if own is None:
                delattr(SQLiteDialect_pysqlite, name)
            else:
                setattr(SQLiteDialect_pysqlite, name, own)
        self._patched.clear()


def profiled_serve_main(argv: list[str]) -> int:
    """`jifen serve` in this process, under cProfile in every thread (CPU time per
    thread, so threads waiting for the GIL or for SQLite do not count), plus SqlTimer."""
    import cProfile

    port, out = int(argv[0]), Path(argv[1])
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_thread_profile(*_args: Any) -> None:
        # Called on a new thread's first profile event: hand the thread to cProfile.
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()

    # Count the hops to the thread pool (starlette's run_in_threadpool calls this).
    import anyio.to_thread

    hops = [0]
    run_sync = anyio.to_thread.run_sync

    async def counted_run_sync(*args: Any, **kwargs: Any) -> Any:
        hops[0] += 1
        return await run_sync(*args, **kwargs)

    anyio.to_thread.run_sync = counted_run_sync  # type: ignore[assignment]
    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found:
    # let that be an exit that runs the `finally` below, not the default sudden death.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    timer = SqlTimer()
    timer.install()
    threading.setprofile(start_thread_profile)
    main = cProfile.Profile(time.thread_time)
    from jifen.cli import app

    main.enable()
    try:
        app(
            ["serve", "--host", HOST, "--port", str(port), "--no-access-log"],
            standalone_mode=False,
        )
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats = pstats.Stats(main)
        with lock:
            for profile in profiles:
                profile.create_stats()
                stats.add(profile)
        stats.dump_stats(out)
        extra = {"<thread-pool hops (anyio.to_thread.run_sync)>": [hops[0], 0]}
        out.with_suffix(".sql.json").write_text(json.dumps({**timer.stats, **extra}))
    return 0


# --- processes ------------------------------------------------------------------------------

_CHILDREN: set[subprocess.Popen[bytes]] = set()


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM if the benchmark itself dies."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_process(
    cmd: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    out = log_path.open("ab") if log_path else None
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=log_path.parent if log_path else None,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        if out:
            out.close()
    _CHILDREN.add(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM (a graceful stop for uvicorn, which also writes the profile of the
    profiled server), then SIGKILL if it does not go. SIGTERM rather than SIGINT: a
    child of a background job may have been started with SIGINT ignored."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # Forget it only once it is gone: if this wait is interrupted, atexit still kills it.
    _CHILDREN.discard(proc)


@atexit.register
def _stop_children() -> None:
    for proc in list(_CHILDREN):
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(5)
        _CHILDREN.discard(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def jifen_cmd() -> list[str]:
    script = BIN / "jifen"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from jifen.cli import app; app()"]


def server_env(database_url: str, synchronous: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["JIFEN_DATABASE_URL"] = database_url
    env["JIFEN_SQLITE_SYNCHRONOUS"] = synchronous
    # The limiter still counts every request (its cost is measured) but never refuses.
    env["JIFEN_RATE_LIMIT"] = "1000000000/minute"
    env["JIFEN_WEBHOOK_WORKER_IN_PROCESS"] = "true" if WEBHOOK_WORKER[0] else "false"
    return env


@contextlib.contextmanager
def jifen_server(
    args: argparse.Namespace,
    work: Path,
    database_url: str,
    synchronous: str = "FULL",
    profile_out: Path | None = None,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A jifen server on a free port; (port, process). Always stopped on exit."""
    port = free_port()
    if profile_out is None:
        cmd = [*jifen_cmd(), "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    else:
        cmd = [sys.executable, str(SCRIPT), "_profiled-serve", str(port), str(profile_out)]
    log_path = work / f"server-{port}.log"
    proc = start_process(cmd, env=server_env(database_url, synchronous), log_path=log_path)
    try:
        wait_for_port(port, proc)
        if args.pin:
            os.sched_setaffinity(proc.pid, {0})
        log(f"server pid {proc.pid} on port {port} (SQLite synchronous={synchronous})")
        yield port, proc
    except Exception:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        if tail:
            print(f"--- server log tail ---\n{tail}", flush=True)
        raise
    finally:
        stop_process(proc)


_load_counter = itertools.count(1)


def run_load(
    args: argparse.Namespace,
    work: Path,
    *,
    label: str,
    port: int,
    requests: Sequence[bytes],
    total: int,
    warmup: int,
    concurrency: int,
    expect_status: int = 200,
    server_pid: int | None = None,
    return_samples: bool = False,
) -> LoadResult:
    """Run the load generator in its own process and return what it measured."""
    spec_path = work / f"load-{next(_load_counter)}.json"
    spec = LoadSpec(
        label=label,
        port=port,
        requests=[r.decode("latin-1") for r in requests],
        expect_status=expect_status,
        total=total,
        warmup=warmup,
        concurrency=concurrency,
        max_seconds=args.http_max_seconds,
        progress_seconds=args.progress_seconds,
        server_pid=server_pid,
        cpu=1 if args.pin else None,
        return_samples=return_samples,
        result_path=str(spec_path.with_suffix(".result.json")),
    )
    spec_path.write_text(json.dumps(asdict(spec)))
    log(f"{label}: {total:,} requests on {concurrency} connection(s) (+{warmup:,} warm-up)")
    proc = start_process([sys.executable, str(SCRIPT), "_loadgen", str(spec_path)])
    try:
        code = proc.wait(timeout=2 * args.http_max_seconds + 120)
    finally:
        stop_process(proc, grace=2)
    if code != 0:
        raise RuntimeError(f"load generator failed with exit code {code}")
    result = LoadResult.from_json(json.loads(Path(spec.result_path).read_text()))
    log(f"{label}: {result.brief()}")
    for sample in result.error_samples:
        log(f"  error: {sample}")
    return result


# --- REST setup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpBooks:
    village_id: str
    issuance_id: str
    member_account_ids: list[str]


def setup_books_over_http(port: int, members: int, tag: str) -> HttpBooks:
    """A township, a village and `members` members (each with a points account), via REST."""
    import httpx

    with httpx.Client(
        base_url=f"http://{HOST}:{port}", headers={"Authorization": auth_header()}, timeout=30
    ) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
            data: dict[str, Any] = response.json()
            return data

        def accounts(**query: str) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            cursor: str | None = None
            for _ in range(10_000):
                params = {**query, "limit": "200", **({"cursor": cursor} if cursor else {})}
                response = client.get("/v1/accounts", params=params)
                response.raise_for_status()
                page = response.json()
                items += page["items"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            return items

        township = post("/v1/townships", {"code": f"bench-{tag}", "name": "基准镇"})
        village = post(
            "/v1/villages",
            {"township_id": township["id"], "code": f"bench-{tag}", "name": "基准村"},
        )
        for n in range(members):
            post("/v1/members", {"village_id": village["id"], "name": f"村民{n:04d}"})
        issuance = [
            a
            for a in accounts(village_id=village["id"], kind="issuance")
            if a["category"] == "general" and a["asset"] == "POINTS"
        ]
        member_accounts = accounts(village_id=village["id"], kind="member")
        if len(issuance) != 1 or len(member_accounts) != members:
            raise RuntimeError(f"unexpected accounts: {issuance}, {len(member_accounts)} members")
        return HttpBooks(village["id"], issuance[0]["id"], [a["id"] for a in member_accounts])


def booking_requests(books: HttpBooks) -> list[bytes]:
    """One prebuilt POST /v1/entries per member: an award from the issuance account."""
    return [
        http_request(
            "POST",
            "/v1/entries",
            json.dumps(
                {
                    "village_id": books.village_id,
                    "code": ENTRY_CODE,
                    "memo": "bench award",
                    "postings": [
                        {"account_id": books.issuance_id, "amount": -AWARD_POINTS},
                        {"account_id": member, "amount": AWARD_POINTS},
                    ],
                }
            ).encode(),
        )
        for member in books.member_account_ids
    ]


def http_balance(port: int, account_id: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(
        f"http://{HOST}:{port}/v1/accounts/{account_id}/balance",
        headers={"Authorization": auth_header()},
        timeout=30,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


# --- figure 1: booking over HTTP -------------------------------------------------------------


def bench_client_ceiling(args: argparse.Namespace, work: Path, concurrency: int) -> LoadResult:
    port = free_port()
    stub = start_process([sys.executable, str(SCRIPT), "_stub-server", str(port)])
    try:
        wait_for_port(port, stub)
        if args.pin:
            os.sched_setaffinity(stub.pid, {0})
        return run_load(
            args,
            work,
            label=f"client ceiling (stub server, c={concurrency})",
            port=port,
            requests=[http_request("GET", "/healthz")],
            total=args.ceiling_requests,
            warmup=min(1000, args.ceiling_requests),
            concurrency=concurrency,
            server_pid=stub.pid,
        )
    finally:
        stop_process(stub)


def bench_http_booking(
    args: argparse.Namespace, work: Path, synchronous: str, with_healthz: bool
) -> dict[str, Any]:
    db_path = work / f"http-{synchronous.lower()}.db"
    url = f"sqlite:///{db_path}"
    log(f"HTTP booking, SQLite synchronous={synchronous}: migrating {db_path.name}")
    migrate_with_key(url, synchronous, work)
    out: dict[str, Any] = {"synchronous": synchronous, "booking": []}
    with jifen_server(args, work, url, synchronous) as (port, server):
        books = setup_books_over_http(port, args.http_members, synchronous.lower())
        log(f"village {books.village_id} with {len(books.member_account_ids)} member accounts")
        concurrencies = args.concurrency_list
        if with_healthz:
            out["healthz"] = run_load(
                args,
                work,
                label=f"GET /healthz (c={concurrencies[0]})",
                port=port,
                requests=[http_request("GET", "/healthz")],
                total=args.healthz_requests,
                warmup=min(500, args.healthz_requests),
                concurrency=concurrencies[0],
                server_pid=server.pid,
            )
        requests = booking_requests(books)
        booked = 0
        for concurrency in concurrencies:
            result = run_load(
                args,
                work,
                label=f"POST /v1/entries {synchronous} c={concurrency}",
                port=port,
                requests=requests,
                total=args.http_requests,
                warmup=args.http_warmup,
                concurrency=concurrency,
                expect_status=201,
                server_pid=server.pid,
            )
            out["booking"].append(result)
            booked += result.warmup_ok + result.ok
        # Every 201 must have booked exactly one entry: the issuance account says how many.
        balance = http_balance(port, books.issuance_id)
        out["books_check"] = (
            "ok"
            if balance["last_seq"] == booked and balance["posted"] == -AWARD_POINTS * booked
            else f"MISMATCH: {booked} bookings answered 201 but the books say {balance}"
        )
        log(f"books check: {out['books_check']} ({balance['last_seq']:,} entries)")
    return out


# --- figures 2 and 3: the service layer --------------------------------------------------------


@dataclass(frozen=True)
class ServiceBooks:
    village_id: uuid.UUID
    issuance_id: uuid.UUID
    busy_id: uuid.UUID  # a member who gets every `busy_every`-th award
    member_ids: list[uuid.UUID]  # the other members, round-robin


def setup_books_in_process(db: Database, members: int) -> ServiceBooks:
    from jifen.kit.clock import utc_now
    from jifen.ledger import service as ledger
    from jifen.ledger.policy import AccountKind
    from jifen.tenancy import service as tenancy

    now = utc_now()
    with db.unit_of_work() as session:
        township = tenancy.create_township(session, code="bench", name="基准镇", now=now)
        village = tenancy.create_village(
            session, township_id=township.id, code="bench", name="基准村", now=now
        )
        accounts = []
        for n in range(members):
            member = tenancy.create_member(
                session, village_id=village.id, name=f"村民{n:04d}", now=now, today=now.date()
            )
            account = ledger.find_account(
                session, village_id=village.id, kind=AccountKind.MEMBER, owner_id=member.id
            )
            assert account is not None
            accounts.append(account.id)
        issuance = ledger.find_account(
            session, village_id=village.id, kind=AccountKind.ISSUANCE, category="general"
        )
        assert issuance is not None
        return ServiceBooks(village.id, issuance.id, accounts[0], accounts[1:])


def db_size_mb(db_path: Path) -> float:
    paths = [db_path, Path(f"{db_path}-wal")]
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


class Seeder:
    """Books awards through ledger.service.book(), `batch_size` entries per unit of work."""

    def __init__(
        self,
        args: argparse.Namespace,
        db: Database,
        settings: Settings,
        books: ServiceBooks,
        db_path: Path,
    ) -> None:
        self.args = args
        self.db = db
        self.settings = settings
        self.books = books
        self.db_path = db_path
        self.done = 0
        self.ordinary = 0
        self.busy_seconds = 0.0  # time spent booking only
        self.timeline: list[tuple[int, float]] = [(0, 0.0)]  # (entries, busy_seconds)

    def _member(self, k: int) -> uuid.UUID:
        if k % self.args.busy_every == 0:
            return self.books.busy_id
        self.ordinary += 1
        return self.books.member_ids[self.ordinary % len(self.books.member_ids)]

    def seed_to(self, target: int, label: str) -> None:
        from jifen.kit.clock import utc_now
        from jifen.ledger import service

        book, posting = service.book, service.PostingInput
        issuance = posting(self.books.issuance_id, -AWARD_POINTS)
        start_done, start_t = self.done, self.busy_seconds
        last_done, last_wall = self.done, time.perf_counter()
        log(f"{label}: booking {target - self.done:,} entries, {self.args.batch_size:,} per unit")
        for _ in range(math.ceil((target - self.done) / self.args.batch_size)):
            n = min(self.args.batch_size, target - self.done)
            started = time.perf_counter()
            with self.db.unit_of_work() as session:
                clock = service.Clock(now=utc_now(), settings=self.settings)
                for k in range(self.done, self.done + n):
                    book(
                        session,
                        village_id=self.books.village_id,
                        code=ENTRY_CODE,
                        postings=(issuance, posting(self._member(k), AWARD_POINTS)),
                        actor=ACTOR,
                        clock=clock,
                        memo="bench award",
                    )
            now = time.perf_counter()
            self.busy_seconds += now - started
            self.done += n
            self.timeline.append((self.done, self.busy_seconds))
            if now - last_wall >= self.args.progress_seconds or self.done == target:
                rate = (self.done - start_done) / (self.busy_seconds - start_t)
                eta = (target - self.done) / rate
                recent = (self.done - last_done) / (now - last_wall)
                log(
                    f"  {label}: {self.done:,}/{target:,} entries, {rate:,.0f} entries/s "
                    f"(last {now - last_wall:.0f} s: {recent:,.0f}), ETA {eta:,.0f} s, "
                    f"db {db_size_mb(self.db_path):,.0f} MB"
                )
                last_done, last_wall = self.done, now

    def rate(self, lo: int, hi: int) -> dict[str, Any]:
        """Entries/s from the last batch boundary at or before `lo` entries to the first
        at or after `hi`."""
        done = [d for d, _ in self.timeline]
        i = max(0, bisect.bisect_right(done, lo) - 1)
        j = min(bisect.bisect_left(done, hi), len(done) - 1)
        (d0, t0), (d1, t1) = self.timeline[i], self.timeline[j]
        rate = (d1 - d0) / (t1 - t0) if t1 > t0 else float("nan")
        return {"from": d0, "to": d1, "rate": rate}


def checkpoint(db_path: Path) -> None:
    """Fold the WAL into the database file, so both read measurements start alike."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass(frozen=True)
class ReadStats:
    """Read latencies over all rounds, and each round's p50: on a busy machine the best
    round is the least disturbed one."""

    latency: Latency
    round_p50_us: list[float]

    @classmethod
    def of(cls, rounds: Sequence[Sequence[int]]) -> ReadStats:
        return cls(
            Latency.of([ns for r in rounds for ns in r]),
            [Latency.of(r).p50_us for r in rounds if r],
        )

    @property
    def best_p50_us(self) -> float:
        return min(self.round_p50_us, default=float("nan"))

    def brief(self) -> str:
        return f"{self.latency.brief()}, best-round p50 {_dur(self.best_p50_us)}"


@dataclass(frozen=True)
class Books:
    """One size of the books to read from: a database and what it holds."""

    name: str  # "small" or "large"
    db: Database
    db_path: Path
    entries: int


def time_service_reads(
    targets: dict[tuple[str, str], tuple[Database, uuid.UUID]],
    reads: int,
    warmup: int,
    rounds: int,
) -> dict[tuple[str, str], ReadStats]:
    """get_balance() for every target in turn, each read in its own read unit of work.

    Interleaving the targets (both sizes of the books, several accounts) read by read
    means a busy spell of the machine hits them all alike."""
    from jifen.ledger import service

    samples: dict[tuple[str, str], list[list[int]]] = {
        key: [[] for _ in range(rounds)] for key in targets
    }
    per_round = max(1, reads // rounds)
    for r in range(warmup + per_round * rounds):
        for key, (db, account_id) in targets.items():
            started = time.perf_counter_ns()
            with db.unit_of_work(write=False) as session:
                service.get_balance(session, account_id)
            if r >= warmup:
                samples[key][(r - warmup) // per_round].append(time.perf_counter_ns() - started)
    return {key: ReadStats.of(s) for key, s in samples.items()}


def measure_reads(
    args: argparse.Namespace, work: Path, sizes: list[Books], books: ServiceBooks
) -> dict[str, dict[str, Any]]:
    """Balance-read latency for each size of the books, the sizes interleaved."""
    from jifen.ledger import service

    accounts = {
        "issuance": books.issuance_id,
        "busy member": books.busy_id,
        "typical member": books.member_ids[0],
    }
    out: dict[str, dict[str, Any]] = {}
    for size in sizes:
        checkpoint(size.db_path)
        postings = {}
        with size.db.unit_of_work(write=False) as session:
            head = service.get_balance(session, books.issuance_id)
            for label, account_id in accounts.items():
                postings[label] = _postings_of(session, account_id)
        assert head.last_seq == size.entries, head
        out[size.name] = {
            "entries": size.entries,
            "db_mb": db_size_mb(size.db_path),
            "postings": postings,
            "service": {},
        }
        log(
            f"{size.name} books: {size.entries:,} entries ({db_size_mb(size.db_path):,.0f} MB); "
            + ", ".join(f"{label} has {n:,} postings" for label, n in postings.items())
        )
    log(f"in-process balance reads, {args.reads:,} per account and size, interleaved")
    timed = time_service_reads(
        {(size.name, label): (size.db, a) for size in sizes for label, a in accounts.items()},
        args.reads,
        args.read_warmup,
        args.read_rounds,
    )
    for (name, label), stats in timed.items():
        out[name]["service"][label] = stats
        log(f"  get_balance, {name} books, {label}: {stats.brief()}")
    if args.skip_http:
        return out
    with contextlib.ExitStack() as stack:
        servers = {
            size.name: stack.enter_context(jifen_server(args, work, f"sqlite:///{size.db_path}"))
            for size in sizes
        }
        samples: dict[tuple[str, str], list[list[int]]] = {}
        errors: dict[tuple[str, str], int] = {}
        # Rounds alternate between the sizes, so both see the same weather.
        for r in range(args.read_rounds):
            for label in ("issuance", "busy member"):
                for size in sizes:
                    port, server = servers[size.name]
                    result = run_load(
                        args,
                        work,
                        label=f"GET balance, {size.name} books, {label}, round {r + 1}",
                        port=port,
                        requests=[http_request("GET", f"/v1/accounts/{accounts[label]}/balance")],
                        total=max(1, args.reads // args.read_rounds),
                        warmup=args.read_warmup if r == 0 else 0,
                        concurrency=1,
                        server_pid=server.pid,
                        return_samples=True,
                    )
                    samples.setdefault((size.name, label), []).append(result.samples_ns or [])
                    errors[size.name, label] = errors.get((size.name, label), 0) + result.errors
    for (name, label), rounds in samples.items():
        stats = ReadStats.of(rounds)
        out[name].setdefault("http", {})[label] = {"stats": stats, "errors": errors[name, label]}
        log(f"  HTTP GET balance, {name} books, {label}: {stats.brief()}")
    return out


def _postings_of(session: Any, account_id: uuid.UUID) -> int:
    from sqlalchemy import func, select

    from jifen.models import Posting

    count = session.execute(
        select(func.count()).select_from(Posting).where(Posting.account_id == account_id)
    ).scalar_one()
    return int(count)


def bench_service(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    from jifen.migrate import upgrade

    db_path = work / "service.db"
    url = f"sqlite:///{db_path}"
    log(f"service layer: migrating {db_path.name}")
    upgrade(url)
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(_database(url, args.service_sync))
        # The HTTP reads authenticate with this key (the small books' copy has it too).
        _API_KEY[:] = [_admin_key(db)]
        log(f"creating a village with {args.members:,} members")
        books = setup_books_in_process(db, args.members)
        seeder = Seeder(args, db, db.settings, books, db_path)
        small, large = args.entries_small, args.entries_large
        seeder.seed_to(small, "seed")
        # Keep a copy of the small books: their reads are timed later, interleaved with
        # those of the large books, so that both meet the same machine.
        checkpoint(db_path)
        small_path = work / "service-small.db"
        shutil.copyfile(db_path, small_path)
        small_db = stack.enter_context(_database(f"sqlite:///{small_path}", args.service_sync))
        seeder.seed_to(large, "seed")
        results["service_booking"] = {
            "batch_size": args.batch_size,
            "synchronous": args.service_sync,
            "first": seeder.rate(0, small),
            "all": seeder.rate(0, large),
            "last": seeder.rate(max(small, large - large // 10), large),
        }
        reads = measure_reads(
            args,
            work,
            [Books("small", small_db, small_path, small), Books("large", db, db_path, large)],
            books,
        )
        results["reads_small"], results["reads_large"] = reads["small"], reads["large"]
        if args.profile:
            results["profile_service"] = profile_service(args, seeder)


def _admin_key(db: Database) -> str:
    from jifen.access import service as access
    from jifen.kit.clock import utc_now

    with db.unit_of_work() as session:
        _user, key = access.create_platform_admin(
            session, name=ACTOR, username=None, password=None, now=utc_now()
        )
    return key


@contextlib.contextmanager
def _database(url: str, synchronous: Literal["FULL", "NORMAL"]) -> Iterator[Database]:
    from jifen.config import Settings
    from jifen.db import Database

    db = Database(Settings(database_url=url, sqlite_synchronous=synchronous))
    try:
        yield db
    finally:
        db.dispose()


# --- profiles -------------------------------------------------------------------------------


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return path if path == "~" else Path(path).name


def profile_tables(stats: pstats.Stats, per: int, top: int, unit: str = "booking") -> list[str]:
    """Top functions by own time and by cumulative time, per booking (or per read)."""
    rows: list[tuple[str, float, float, float]] = []
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        where = f"{_short(file)}:{line}({name})" if file != "~" else name
        rows.append((where, calls / per, tottime / per * 1e6, cumtime / per * 1e6))
    lines = []
    for title, key in (("own time", 2), ("cumulative time", 3)):
        lines.append(f"  top {top} by {title} per {unit}:")
        lines.append(f"  {'calls/op':>9} {'own µs/op':>10} {'cum µs/op':>10}  function")
        for where, calls_per, own, cum in sorted(rows, key=lambda r: -float(r[key]))[:top]:
            lines.append(f"  {calls_per:9.2f} {own:10.1f} {cum:10.1f}  {where[:110]}")
    return lines


def sql_table(
    sql: dict[str, list[int]], per: int, seconds: float | None, unit: str = "booking"
) -> list[str]:
    total = sum(ns for _, ns in sql.values())
    lines = [f"  SQL statements (wall time), {total / per / 1000:.0f} µs per {unit} in all:"]
    lines.append(f"  {'calls/op':>9} {'µs/call':>8} {'µs/op':>7}  statement")
    for statement, (calls, ns) in sorted(sql.items(), key=lambda kv: -kv[1][1])[:25]:
        lines.append(
            f"  {calls / per:9.2f} {ns / calls / 1000:8.1f} {ns / per / 1000:7.1f}  {statement}"
        )
    if seconds:
        lines.append(f"  (wall time of the profiled run: {seconds / per * 1e6:.0f} µs per {unit})")
    return lines


def _profiled(work: Callable[[], None]) -> tuple[pstats.Stats, dict[str, list[int]], float]:
    """Run `work` under cProfile (wall time) and SqlTimer."""
    import cProfile

    timer = SqlTimer()
    profile = cProfile.Profile()
    timer.install()
    started = time.perf_counter()
    profile.enable()
    try:
        work()
    finally:
        profile.disable()
        timer.uninstall()
    seconds = time.perf_counter() - started
    return pstats.Stats(profile, stream=io.StringIO()), timer.stats, seconds


def profile_service(args: argparse.Namespace, seeder: Seeder) -> dict[str, Any]:
    from jifen.ledger import service

    n = args.profile_entries
    stats, sql, seconds = _profiled(lambda: seeder.seed_to(seeder.done + n, "profiled seed"))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    prof_path = OUT_DIR / "profile-service.prof"
    stats.dump_stats(prof_path)
    lines = [
        f"PROFILE: service.book() in batches of {args.batch_size:,}, {n:,} entries on top of "
        f"{seeder.done - n:,} (cProfile, wall time; saved to {prof_path.relative_to(ROOT)})",
        *profile_tables(stats, n, args.profile_top),
        *sql_table(sql, n, seconds),
    ]
    reads = max(1, args.reads)
    account_id = seeder.books.busy_id

    def read() -> None:
        for _ in range(reads):
            with seeder.db.unit_of_work(write=False) as session:
                service.get_balance(session, account_id)

    read_stats, read_sql, read_seconds = _profiled(read)
    lines += [
        f"PROFILE: {reads:,} balance reads, each get_balance() in its own read unit of work",
        *profile_tables(read_stats, reads, 15, unit="read")[17:],  # cumulative table only
        *sql_table(read_sql, reads, read_seconds, unit="read"),
    ]
    print("\n".join(lines), flush=True)
    return {"entries": n, "seconds": seconds, "sql": sql, "text": lines}


def profile_http(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    db_path = work / "profile-http.db"
    url = f"sqlite:///{db_path}"
    migrate_with_key(url, "FULL", work)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    prof_path = OUT_DIR / "profile-http-server.prof"
    sql_path = prof_path.with_suffix(".sql.json")
    for stale in (prof_path, sql_path):
        stale.unlink(missing_ok=True)
    concurrency = args.concurrency_list[0]
    with jifen_server(args, work, url, "FULL", profile_out=prof_path) as (port, server):
        books = setup_books_over_http(port, args.http_members, "profile")
        result = run_load(
            args,
            work,
            label=f"profiled POST /v1/entries c={concurrency}",
            port=port,
            requests=booking_requests(books),
            total=args.profile_requests,
            warmup=0,
            concurrency=concurrency,
            expect_status=201,
            server_pid=server.pid,
        )
    # The server wrote its profile on the way out (jifen_server stopped it with SIGTERM).
    per = max(1, result.ok)
    stats = pstats.Stats(str(prof_path), stream=io.StringIO())
    if not sql_path.exists():
        raise RuntimeError(f"the profiled server wrote no profile; see {work}/server-*.log")
    sql = json.loads(sql_path.read_text())
    hops = sql.pop("<thread-pool hops (anyio.to_thread.run_sync)>", [0, 0])[0]
    lines = [
        f"PROFILE: the server booking {per:,} entries over HTTP (c={concurrency}, SQLite "
        f"FULL; cProfile in every thread, CPU time per thread; the {args.http_members} "
        f"setup requests are included; saved to {prof_path.relative_to(ROOT)})",
        f"  under the profiler: {result.brief()}",
        f"  thread-pool hops (anyio.to_thread.run_sync): {hops / per:.2f} per request",
        *profile_tables(stats, per, args.profile_top),
        *sql_table(sql, per, result.seconds),
    ]
    print("\n".join(lines), flush=True)
    return {"requests": per, "load": result, "sql": sql, "hops": hops, "text": lines}


# --- the report ---------------------------------------------------------------------------------


def summary(args: argparse.Namespace, results: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    ceiling: LoadResult | None = results.get("client_ceiling")
    if ceiling:
        rows.append(
            (
                f"load generator ceiling (stub server, c={ceiling.concurrency})",
                f"{ceiling.rps:,.0f} req/s",
                ceiling.details(),
            )
        )
    for run in results.get("http_booking", []):
        healthz: LoadResult | None = run.get("healthz")
        if healthz:
            rows.append(
                (
                    f"GET /healthz on jifen serve (c={healthz.concurrency})",
                    f"{healthz.rps:,.0f} req/s",
                    healthz.details(),
                )
            )
        for r in run["booking"]:
            rows.append(
                (
                    f"1. HTTP booking, 1 entry/request, {run['synchronous']}, c={r.concurrency}",
                    f"{r.rps:,.0f} entries/s",
                    f"{r.details()}; books {run['books_check']}",
                )
            )
    booking = results.get("service_booking")
    if booking:
        b, s = booking["batch_size"], booking["synchronous"]
        for key, note in (("first", ""), ("all", "the whole seed"), ("last", "the last 10%")):
            r = booking[key]
            rows.append(
                (
                    f"2. service batches of {b:,} ({s}), {r['from']:,}-{r['to']:,}",
                    f"{r['rate']:,.0f} entries/s",
                    note,
                )
            )
    small, large = results.get("reads_small"), results.get("reads_large")
    for reads in (small, large):
        if not reads:
            continue
        n = reads["entries"]
        for label, stats in reads["service"].items():
            rows.append(
                (
                    f"3. get_balance in-process, {label} @ {n:,} entries",
                    f"p50 {_dur(stats.latency.p50_us)}",
                    f"p99 {_dur(stats.latency.p99_us)}, best-round p50 "
                    f"{_dur(stats.best_p50_us)}; {reads['postings'][label]:,} postings",
                )
            )
        for label, http in reads.get("http", {}).items():
            stats = http["stats"]
            rows.append(
                (
                    f"3. GET balance over HTTP (c=1), {label} @ {n:,} entries",
                    f"p50 {_dur(stats.latency.p50_us)}",
                    f"p99 {_dur(stats.latency.p99_us)}, best-round p50 "
                    f"{_dur(stats.best_p50_us)}; errors {http['errors']}",
                )
            )
    if small and large:
        pairs = [
            ("in-process", label, small["service"][label], large["service"][label])
            for label in small["service"]
        ] + [
            ("HTTP", label, small["http"][label]["stats"], large["http"][label]["stats"])
            for label in small.get("http", {})
        ]
        for how, label, a, b in pairs:
            ratio = b.latency.p50_us / a.latency.p50_us
            best = b.best_p50_us / a.best_p50_us
            verdict = "meets" if ratio <= RATIO_GOAL else "MISSES"
            rows.append(
                (
                    f"3. p50 @{large['entries']:,} / p50 @{small['entries']:,}, {how}, {label}",
                    f"{ratio:.2f}",
                    f"{verdict} the goal <= {RATIO_GOAL}; best round / best round: {best:.2f}",
                )
            )
        rows.append(
            (
                "database size",
                f"{small['db_mb']:,.1f} MB / {large['db_mb']:,.0f} MB",
                f"at {small['entries']:,} / {large['entries']:,} entries",
            )
        )
    return rows


def print_summary(rows: list[tuple[str, str, str]]) -> None:
    if not rows:
        return
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print("\n" + "=" * (w0 + w1 + 50))
    print("SUMMARY")
    print("=" * (w0 + w1 + 50))
    for name, value, details in rows:
        print(f"{name:<{w0}}  {value:>{w1}}  {details}")
    print(flush=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, LoadResult):
        return _jsonable({**asdict(value), "samples_ns": None})
    if isinstance(value, Latency | ReadStats):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- main -------------------------------------------------------------------------------------

QUICK = {
    "http_requests": 1500,
    "http_warmup": 100,
    "ceiling_requests": 10_000,
    "healthz_requests": 3000,
    "members": 100,
    "entries_small": 2000,
    "entries_large": 20000,
    "reads": 300,
    "read_warmup": 30,
    "profile_entries": 2000,
    "profile_requests": 500,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark jifen's ledger on SQLite (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help=f"small sizes for a smoke run: {QUICK}")
    g = p.add_argument_group("figure 1: booking over HTTP")
    g.add_argument("--http-requests", type=int, default=10_000, help="measured POSTs per run")
    g.add_argument("--http-warmup", type=int, default=500, help="unmeasured POSTs first")
    g.add_argument("--concurrency", default="16", help="requests in flight; a list: 1,4,16")
    g.add_argument("--http-members", type=int, default=64, help="member accounts awarded")
    g.add_argument("--sync-modes", default="FULL,NORMAL", help="SQLite synchronous modes")
    g.add_argument("--ceiling-requests", type=int, default=50_000, help="against the stub")
    g.add_argument(
        "--no-webhook-worker",
        action="store_true",
        help="serve without the in-process webhook worker (as with `jifen worker` apart)",
    )
    g.add_argument("--healthz-requests", type=int, default=10_000, help="GET /healthz")
    g.add_argument("--http-max-seconds", type=float, default=300, help="bound on each run")
    g.add_argument("--pin", action="store_true", help="pin the server to CPU 0, client to 1")
    g = p.add_argument_group("figures 2 and 3: the service layer and balance reads")
    g.add_argument("--members", type=int, default=1000, help="member accounts in the village")
    g.add_argument("--busy-every", type=int, default=10, help="every Nth award: busy member")
    g.add_argument("--batch-size", type=int, default=1000, help="entries per unit of work")
    g.add_argument("--entries-small", type=int, default=10_000, help="first read point")
    g.add_argument("--entries-large", type=int, default=1_000_000, help="second read point")
    g.add_argument("--reads", type=int, default=2000, help="timed reads per account")
    g.add_argument("--read-warmup", type=int, default=100, help="untimed reads first")
    g.add_argument("--read-rounds", type=int, default=5, help="the reads come in rounds")
    g.add_argument("--service-sync", default="FULL", choices=["FULL", "NORMAL"])
    g = p.add_argument_group("what to run, and output")
    g.add_argument("--skip-http", action="store_true", help="no HTTP figures")
    g.add_argument("--skip-service", action="store_true", help="no service-layer figures")
    g.add_argument("--profile", action="store_true", help="also profile the booking paths")
    g.add_argument("--profile-entries", type=int, default=10_000, help="in-process")
    g.add_argument("--profile-requests", type=int, default=3000, help="over HTTP")
    g.add_argument("--profile-top", type=int, default=25, help="functions per table")
    g.add_argument("--progress-seconds", type=float, default=5.0, help="between progress lines")
    g.add_argument("--json", type=Path, default=None, help="default: bench/out/bench-<time>.json")
    g.add_argument("--no-json", action="store_true", help="write no JSON file")
    g.add_argument("--keep-tmp", action="store_true", help="keep the databases and logs")
    args = p.parse_args(argv)
    if args.quick:
        p.set_defaults(**QUICK)
        args = p.parse_args(argv)  # explicit flags still win over the quick sizes
    args.concurrency_list = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.sync_list = [m.strip().upper() for m in args.sync_modes.split(",") if m.strip()]
    if not 0 < args.entries_small < args.entries_large:
        p.error("need 0 < --entries-small < --entries-large")
    if any(m not in ("FULL", "NORMAL") for m in args.sync_list):
        p.error("--sync-modes takes FULL and/or NORMAL")
    if not args.concurrency_list or min(args.concurrency_list) < 1:
        p.error("--concurrency must be positive")
    if args.pin and (os.cpu_count() or 1) < 2:
        p.error("--pin needs two CPUs")
    return args


def _git_state() -> str:
    """The commit measured, and whether src/ or migrations/ had local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or 'unknown'}" + (f" + local changes in {', '.join(changed)}" if changed else "")


def run(args: argparse.Namespace) -> int:
    WEBHOOK_WORKER[0] = not args.no_webhook_worker
    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "git": _git_state(),
    }
    log(
        f"jifen bench: Python {results['python']}, SQLite {results['sqlite']}, "
        f"{results['cpus']} CPUs, load average {results['loadavg_start'][0]:.2f}"
    )
    work = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
    log(f"working in {work}; code: {results['git']}")
    try:
        if not args.skip_http:
            results["client_ceiling"] = bench_client_ceiling(args, work, args.concurrency_list[0])
            results["http_booking"] = [
                bench_http_booking(args, work, mode, with_healthz=i == 0)
                for i, mode in enumerate(args.sync_list)
            ]
        if not args.skip_service:
            bench_service(args, work, results)
        if args.profile and not args.skip_http:
            results["profile_http"] = profile_http(args, work)
    finally:
        if args.keep_tmp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.monotonic() - _T0
    rows = summary(args, results)
    results["summary"] = rows
    print_summary(rows)
    print(
        f"load average {results['loadavg_start'][0]:.2f} at the start, "
        f"{results['loadavg_end'][0]:.2f} at the end; {results['seconds']:,.0f} s in all"
    )
    if not args.no_json:
        path = args.json or OUT_DIR / f"bench-{datetime.now():%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(results), indent=2, ensure_ascii=False) + "\n")
        print(f"results written to {path}")
    failures = [
        r
        for run_ in results.get("http_booking", [])
        for r in run_["booking"]
        if r.errors or run_["books_check"] != "ok"
    ]
    return 1 if failures else 0


_INTERNAL: dict[str, Callable[[list[str]], int]] = {
    "_loadgen": loadgen_main,
    "_stub-server": stub_server_main,
    "_profiled-serve": profiled_serve_main,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _INTERNAL:
        return _INTERNAL[argv[0]](argv[1:])
    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, _terminated)
    return run(args)


def _terminated(signum: int, _frame: object) -> None:
    log(f"stopped by signal {signum}; stopping the servers and removing the databases")
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
