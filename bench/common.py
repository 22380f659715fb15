"""What every part of the benchmark shares: progress lines, percentiles, CPU and memory
readings of processes, child processes that never outlive the benchmark, machine facts."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import platform
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT_DIR = BENCH / "out"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def elapsed() -> float:
    return time.monotonic() - _T0


# --- statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in microseconds (nearest rank)."""

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
        return f"p50 {dur(self.p50_us)}, p99 {dur(self.p99_us)} (n={self.count:,})"


def dur(us: float) -> str:
    if us is None or math.isnan(us):
        return "n/a"
    if us >= 1_000_000:
        return f"{us / 1e6:.2f} s"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def per_s(x: float) -> str:
    """A rate for a progress or result line ("n/a" when it could not be told)."""
    return "n/a" if math.isnan(x) else f"{x:,.0f}/s"


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


# --- processes: CPU, memory, children ---------------------------------------------------


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


def _status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float | None:
    """The process's resident set now (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS")


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = (entry / "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            out[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])))
    return out


def other_processes(seconds: float = 2.0) -> dict[str, Any]:
    """What else used the CPUs over `seconds`: processes outside this benchmark (and
    its children) by CPU share, 100% = one core. The machine is shared; this says how
    much, at the moment it is called."""
    ours = {os.getpid(), *(p.pid for p in _CHILDREN)}
    before = _cpu_by_process()
    time.sleep(seconds)
    after = _cpu_by_process()
    tick = os.sysconf("SC_CLK_TCK")
    busy: dict[str, float] = {}
    for pid, (name, ticks) in after.items():
        if pid in ours or pid not in before:
            continue
        used = (ticks - before[pid][1]) / tick / seconds * 100
        if used > 0:
            busy[name] = busy.get(name, 0.0) + used
    top = sorted(busy.items(), key=lambda kv: -kv[1])
    return {
        "cpu_pct": round(sum(busy.values()), 1),
        "top": [(name, round(pct, 1)) for name, pct in top[:6]],
        "loadavg": list(os.getloadavg()),
    }


_CHILDREN: set[subprocess.Popen[bytes]] = set()


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM if the benchmark itself dies."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_process(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    out = log_path.open("ab") if log_path else None
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd or (log_path.parent if log_path else None),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        if out:
            out.close()
    _CHILDREN.add(proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM (a graceful stop for uvicorn), then SIGKILL if it does not go. SIGTERM
    rather than SIGINT: a child of a background job may have SIGINT ignored."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # Forgotten only once gone: if this wait is interrupted, atexit still kills it.
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


# --- the machine and the code measured ----------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_state() -> dict[str, Any]:
    """The commit measured, and which files of src/ and migrations/ had local changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout

    try:
        head = git("rev-parse", "HEAD").strip()
        subject = git("log", "-1", "--format=%s").strip()
        dirty = [
            line[3:] for line in git("status", "--porcelain", "src", "migrations").splitlines()
        ]
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "subject": "", "local_changes": []}
    return {"commit": head or "unknown", "subject": subject, "local_changes": dirty}


def machine_facts() -> dict[str, Any]:
    import sqlalchemy

    try:
        cores_usable = len(os.sched_getaffinity(0))
    except AttributeError:
        cores_usable = os.cpu_count()
    mem_total = "unknown"
    with contextlib.suppress(OSError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": cores_usable,
        "memory": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
    }


class Progress:
    """A progress line at most every `every` seconds: done, of what, and the rate."""

    def __init__(self, label: str, total: int, every: float) -> None:
        self.label, self.total, self.every = label, total, every
        self.last = time.perf_counter()

    def __call__(self, timeline: Timeline) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            log(f"  {self.label}: {timeline.done:,}/{self.total:,}, {timeline.rate():,.0f}/s")


class Timeline:
    """Bookings done against seconds elapsed, to read the rate of any part of a run."""

    def __init__(self) -> None:
        self.points: list[tuple[int, float]] = [(0, 0.0)]

    def add(self, bookings: int, seconds: float) -> None:
        """`bookings` more done, at `seconds` since the start (or of busy time)."""
        self.points.append((self.done + bookings, seconds))

    @property
    def done(self) -> int:
        return self.points[-1][0]

    @property
    def seconds(self) -> float:
        return self.points[-1][1]

    def rate(self) -> float:
        return rate(self.done, self.seconds)

    def between(self, lo: float, hi: float) -> float:
        """Bookings/s from the point at or before fraction `lo` of the bookings to the
        point at or after fraction `hi`; NaN when the points are too far apart to tell
        (the span would be more than half as long again as asked)."""
        import bisect

        done = [d for d, _ in self.points]
        i = max(0, bisect.bisect_right(done, lo * self.done) - 1)
        j = min(bisect.bisect_left(done, hi * self.done), len(done) - 1)
        (d0, t0), (d1, t1) = self.points[i], self.points[j]
        if d1 - d0 > 1.5 * (hi - lo) * self.done:
            return float("nan")
        return rate(d1 - d0, t1 - t0)

    def first(self, fraction: float) -> float:
        return self.between(0.0, fraction)

    def last(self, fraction: float) -> float:
        return self.between(1.0 - fraction, 1.0)
