"""Counting and timing SQL statements, and sampling profiles with py-spy.

- SqlCounter counts what jifen sends to the database, through SQLAlchemy's
  `before_cursor_execute` and `commit` events on a Database's engines: statements
  (an executemany counts once, and so does each multi-row INSERT SQLAlchemy's
  "insertmanyvalues" makes of one), and of those the executemany ones with their rows
  (on PostgreSQL psycopg sends an executemany as one statement per row, pipelined).
  pg_stat_statements is not used: it needs a change to the server's configuration.
- SqlTimer adds the wall time per statement (and per DBAPI commit) across every engine
  of a process; `python bench/profiling.py serve PORT OUT` runs `jifen serve` with it
  and writes what it timed to OUT when it stops (for the profiled HTTP run).
- PySpy records a process with py-spy (sampling from outside, `--nonblocking` so the
  process is never paused, `--gil` so that only the thread holding the GIL is sampled:
  one server process has one Python core, and this shows who spends it) into a raw
  "collapsed stacks" file, and reads it back: how busy the GIL was, and per thread the
  functions the samples were in (own time: the innermost frame; total time: anywhere
  on the stack).
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import BIN, HOST, start_process, stop_process

if TYPE_CHECKING:
    from jifen.db import Database


# --- counting statements ---------------------------------------------------------------------


@dataclass
class SqlCount:
    statements: int = 0
    executemany: int = 0
    executemany_rows: int = 0
    commits: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def per(self, n: int) -> dict[str, Any]:
        n = max(1, n)
        return {
            "statements": self.statements / n,
            "executemany": self.executemany / n,
            "executemany_rows": self.executemany_rows / n,
            "commits": self.commits / n,
            "by_kind": {k: v / n for k, v in self.by_kind.most_common()},
        }


@contextlib.contextmanager
def count_sql(db: Database) -> Iterator[SqlCount]:
    """Count the statements and commits of a Database's engines inside the block."""
    from sqlalchemy import event

    count = SqlCount()
    lock = threading.Lock()

    def before(
        _conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool
    ) -> None:
        with lock:
            count.statements += 1
            count.by_kind[_kind(statement)] += 1
            if many:
                count.executemany += 1
                count.executemany_rows += len(params) if params else 0

    def commit(_conn: Any) -> None:
        with lock:
            count.commits += 1

    engines = {db.write_engine, db.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "commit", commit)
    try:
        yield count
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "commit", commit)


def _kind(statement: str) -> str:
    """'INSERT postings', 'SELECT books', 'UPDATE account_balances', 'BEGIN'..."""
    words = statement.split(None, 6)
    if not words:
        return "?"
    verb = words[0].upper()
    table = ""
    if verb == "INSERT" and len(words) > 2:
        table = words[2]
    elif verb == "UPDATE" and len(words) > 1:
        table = words[1]
    elif verb == "SELECT":
        match = re.search(r"\bFROM\s+(\w+)", statement, re.IGNORECASE)
        table = match.group(1) if match else ""
    return f"{verb} {table}".strip()


# --- timing statements in a server (profile run) -------------------------------------------


class SqlTimer:
    """Wall time per SQL statement (and per DBAPI commit), across all engines."""

    def __init__(self) -> None:
        self.stats: dict[str, list[int]] = {}  # statement -> [calls, total ns]
        self._lock = threading.Lock()

    def _add(self, key: str, elapsed_ns: int) -> None:
        with self._lock:
            entry = self.stats.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += elapsed_ns

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
        from sqlalchemy.engine import Engine

        def before(conn: Any, *_args: Any) -> None:
            conn.info.setdefault("bench_t0", []).append(time.perf_counter_ns())

        def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            started = conn.info["bench_t0"].pop()
            self._add(" ".join(statement.split())[:110], time.perf_counter_ns() - started)

        event.listen(Engine, "before_cursor_execute", before)
        event.listen(Engine, "after_cursor_execute", after)
        for dialect in (SQLiteDialect_pysqlite, PGDialect_psycopg):
            original = dialect.do_commit
            dialect.do_commit = self._timed(original, "<DBAPI commit>")  # type: ignore[method-assign]

    def _timed(self, original: Callable[..., None], key: str) -> Callable[..., None]:
        def timed(dialect: Any, dbapi_connection: Any) -> None:
            started = time.perf_counter_ns()
            try:
                original(dialect, dbapi_connection)
            finally:
                self._add(key, time.perf_counter_ns() - started)

        return timed


class GcTimer:
    """Collections of Python's cyclic garbage collector and the time they took (their
    pauses hold the GIL; a profiler charges them to whatever line allocated)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # generation -> [collections, seconds]
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        entry = self.stats.setdefault(f"generation {info['generation']}", [0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - self._started


def serve_main(port: str, out: str) -> int:
    """`jifen serve` in this process, with its SQL statements and GC pauses timed."""
    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found:
    # make that an exit that runs the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    timer, collector = SqlTimer(), GcTimer()
    timer.install()
    collector.install()
    from jifen.cli import app

    try:
        app(["serve", "--host", HOST, "--port", port, "--no-access-log"], standalone_mode=False)
    finally:
        Path(out).write_text(json.dumps({"sql": timer.stats, "gc": collector.stats}))
    return 0


def gc_line(gc_stats: dict[str, list[float]], per: int, unit: str = "request") -> str:
    total = sum(seconds for _n, seconds in gc_stats.values())
    parts = ", ".join(
        f"{name}: {int(n):,} ({seconds * 1000:,.0f} ms)"
        for name, (n, seconds) in sorted(gc_stats.items())
    )
    return (
        f"  garbage collector: {total * 1e6 / max(1, per):,.0f} µs per {unit} in pauses; "
        f"collections {parts or 'none'}"
    )


def sql_table(
    sql: dict[str, list[int]], per: int, unit: str = "request", top: int = 20
) -> list[str]:
    total = sum(ns for _, ns in sql.values())
    calls = sum(n for statement, (n, _ns) in sql.items() if not statement.startswith("<"))
    lines = [
        f"  SQL (wall time in the server's threads): {total / per / 1000:.0f} µs and "
        f"{calls / per:.1f} statements per {unit}"
    ]
    lines.append(f"  {'calls/op':>9} {'µs/call':>8} {'µs/op':>7}  statement")
    for statement, (n, ns) in sorted(sql.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append(f"  {n / per:9.2f} {ns / n / 1000:8.1f} {ns / per / 1000:7.1f}  {statement}")
    return lines


# --- py-spy --------------------------------------------------------------------------------------


def py_spy() -> str | None:
    """The py-spy executable of the venv, if installed (`.venv/bin/pip install py-spy`;
    it is not in requirements.lock, and the benchmark installs nothing itself)."""
    found = BIN / "py-spy"
    return str(found) if found.exists() else None


class PySpy:
    """`py-spy record --gil` on a process until stopped: samples of the thread that holds
    the GIL, i.e. where the process's one Python core goes (waits for the database, the
    network or a lock release the GIL and are not sampled)."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.out = out
        self.rate = rate
        out.unlink(missing_ok=True)
        options = {"--pid": pid, "--rate": rate, "--format": "raw", "--output": out}
        self.proc = start_process(
            [
                executable,
                "record",
                *(text for k, v in options.items() for text in (k, str(v))),
                *("--threads", "--gil", "--nonblocking"),
            ],
            log_path=out.with_suffix(".log"),
        )
        time.sleep(1.0)  # attached before the load starts
        self.started = time.perf_counter()
        self.seconds = 0.0

    def stop(self) -> None:
        self.seconds = time.perf_counter() - self.started
        # py-spy writes its file on SIGINT.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        stop_process(self.proc, grace=5)


@dataclass
class ThreadProfile:
    name: str
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)


_TID = re.compile(r"\s*\(\d+\)|\s*\(0x[0-9a-f]+\)|_\d+$|-\d+$", re.IGNORECASE)


def read_collapsed(path: Path) -> dict[str, ThreadProfile]:
    """Threads (by name, numbers dropped, so a thread pool is one) and their samples, by
    function (the line numbers dropped)."""
    threads: dict[str, ThreadProfile] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        head = frames[0]
        name = head.split(":", 1)[1].strip() if ":" in head else head
        name = _TID.sub("", name).strip() or head
        thread = threads.get(name)
        if thread is None:
            thread = threads[name] = ThreadProfile(name)
        thread.samples += count
        body = [_function(f) for f in frames[1:]] or ["<no Python frame>"]
        thread.own[body[-1]] += count
        for frame in set(body):
            thread.total[frame] += count
    return threads


def _function(frame: str) -> str:
    """'create_entry (jifen/ledger/router.py)' from py-spy's 'create_entry (/…/src/jifen/
    ledger/router.py:150)'."""
    head, _, tail = frame.partition(" (")
    path = tail.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/", "/lib/python3"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
            break
    return f"{head} ({path})" if path else head


def profile_tables(
    threads: dict[str, ThreadProfile],
    per: int,
    rate: int,
    seconds: float,
    top: int,
    unit: str = "request",
) -> list[str]:
    """How busy the GIL was, then per thread its share and the top functions by own time
    (innermost frame) and by total time (anywhere on the stack; jifen's code only), in
    µs of GIL time per request (samples / rate / requests)."""
    all_samples = sum(t.samples for t in threads.values())
    us = 1e6 / rate / max(1, per)
    lines = [
        f"  the GIL was held {all_samples / max(1.0, seconds * rate):.0%} of the "
        f"{seconds:.1f} s recorded: {all_samples * us:,.0f} µs of Python per {unit}"
    ]
    for thread in sorted(threads.values(), key=lambda t: -t.samples):
        lines.append(
            f"  thread {thread.name!r}: {thread.samples / max(1, all_samples):.0%} of the GIL "
            f"samples, {thread.samples * us:,.0f} µs per {unit}"
        )
        if thread.samples < all_samples * 0.03:
            continue
        lines.append(f"    {'µs/op':>7} {'share':>6}  top {top} by own time")
        for frame, n in thread.own.most_common(top):
            lines.append(f"    {n * us:7.0f} {n / thread.samples:6.1%}  {frame[:110]}")
        lines.append(f"    {'µs/op':>7} {'share':>6}  top {top} by total time, jifen's code")
        jifen = [(f, n) for f, n in thread.total.most_common() if "(jifen/" in f]
        for frame, n in jifen[:top]:
            lines.append(f"    {n * us:7.0f} {n / thread.samples:6.1%}  {frame[:110]}")
    return lines


def summarise_threads(threads: dict[str, ThreadProfile], top: int) -> dict[str, Any]:
    return {
        name: {
            "samples": t.samples,
            "own": t.own.most_common(top),
            "total_jifen": [(f, n) for f, n in t.total.most_common() if "(jifen/" in f][:top],
        }
        for name, t in threads.items()
    }


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        sys.exit("usage: profiling.py serve PORT OUT")
    sys.exit(serve_main(sys.argv[2], sys.argv[3]))
