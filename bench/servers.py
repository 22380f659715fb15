"""`jifen serve` subprocesses, and running the load generator against them."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from backends import Fresh
from common import (
    BENCH,
    BIN,
    HOST,
    free_port,
    log,
    peak_rss_mb,
    rss_mb,
    start_process,
    stop_process,
    wait_for_port,
)
from loadgen import LoadResult, LoadSpec, RawRequest


def jifen_cmd() -> list[str]:
    script = BIN / "jifen"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from jifen.cli import app; app()"]


def server_env(args: argparse.Namespace, fresh: Fresh) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["JIFEN_DATABASE_URL"] = fresh.url
    env["JIFEN_SQLITE_SYNCHRONOUS"] = fresh.backend.synchronous
    # The limiter still counts every request (its cost is measured) but never refuses.
    env["JIFEN_RATE_LIMIT"] = "1000000000/minute"
    env["JIFEN_WEBHOOK_WORKER_IN_PROCESS"] = "false" if args.no_webhook_worker else "true"
    return env


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    start_rss_mb: float | None = None  # idle, once it listens: the reference of its peak

    @property
    def pid(self) -> int:
        return self.proc.pid

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.proc.pid)

    def get(self, path: str, bearer: str) -> dict[str, object]:
        import httpx

        response = httpx.get(
            f"http://{HOST}:{self.port}{path}",
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=600,
        )
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data


@contextlib.contextmanager
def jifen_server(
    args: argparse.Namespace, work: Path, fresh: Fresh, *, sql_timer_out: Path | None = None
) -> Iterator[Server]:
    """A `jifen serve` (one worker) on a free port, on the fresh database; always stopped
    on the way out. With `sql_timer_out`, the server times its SQL statements (for the
    profile) and writes them there when it stops."""
    port = free_port()
    if sql_timer_out is None:
        cmd = [*jifen_cmd(), "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    else:
        cmd = [sys.executable, str(BENCH / "profiling.py"), "serve", str(port), str(sql_timer_out)]
    log_path = work / f"server-{port}.log"
    proc = start_process(cmd, env=server_env(args, fresh), log_path=log_path)
    server = Server(port, proc, log_path)
    try:
        wait_for_port(port, proc)
        server.start_rss_mb = rss_mb(proc.pid)
        if args.pin:
            os.sched_setaffinity(proc.pid, {0})
        log(f"server pid {proc.pid} on port {port} ({fresh.backend.label}, {fresh.name})")
        yield server
    except Exception:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
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
    templates: Sequence[bytes],
    total: int,
    warmup: int,
    concurrency: int,
    expect_status: Sequence[int] = (200,),
    server_pid: int | None = None,
    body_must_contain: dict[str, str] | None = None,
    return_samples: bool = False,
    return_statuses: bool = False,
    quiet: bool = False,
) -> LoadResult:
    """Run the load generator in a process of its own; what it measured."""
    spec_path = work / f"load-{next(_load_counter)}.json"
    spec = LoadSpec(
        label=label,
        port=port,
        templates=[t.decode("latin-1") for t in templates],
        expect_status=list(expect_status),
        total=total,
        warmup=warmup,
        concurrency=concurrency,
        max_seconds=args.http_max_seconds,
        progress_seconds=args.progress_seconds,
        server_pid=server_pid,
        cpu=1 if args.pin else None,
        body_must_contain=body_must_contain,
        return_samples=return_samples,
        return_statuses=return_statuses,
        result_path=str(spec_path.with_suffix(".result.json")),
    )
    spec_path.write_text(json.dumps(asdict(spec)))
    if not quiet:
        log(f"{label}: {total:,} requests on {concurrency} connection(s) (+{warmup:,} warm-up)")
    proc = start_process([sys.executable, str(BENCH / "loadgen.py"), "run", str(spec_path)])
    try:
        code = proc.wait(timeout=2 * args.http_max_seconds + 120)
    finally:
        stop_process(proc, grace=2)
    if code != 0:
        raise RuntimeError(f"the load generator failed with exit code {code}")
    result = LoadResult.from_json(json.loads(Path(spec.result_path).read_text()))
    if not quiet:
        log(f"{label}: {result.brief()}")
    for sample in result.error_samples:
        log(f"  error: {sample}")
    return result


def client_ceiling(args: argparse.Namespace, work: Path, concurrency: int) -> LoadResult:
    """The load generator against the stub server: its own ceiling."""
    port = free_port()
    stub = start_process([sys.executable, str(BENCH / "loadgen.py"), "stub", str(port)])
    try:
        wait_for_port(port, stub)
        if args.pin:
            os.sched_setaffinity(stub.pid, {0})
        return run_load(
            args,
            work,
            label=f"load generator ceiling (stub server, c={concurrency})",
            port=port,
            templates=[RawRequest().build("GET", "/healthz")],
            total=args.ceiling_requests,
            warmup=min(1000, args.ceiling_requests),
            concurrency=concurrency,
            server_pid=stub.pid,
        )
    finally:
        stop_process(stub)
