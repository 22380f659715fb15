"""The load generator, and a stub server to measure its own ceiling.

The load generator runs in a process of its own (`python bench/loadgen.py run SPEC`): a
raw HTTP/1.1 keep-alive client on asyncio (uvloop when installed), much cheaper than
httpx, keeping `concurrency` connections each with one request in flight (no
pipelining). Requests are prebuilt by the benchmark as templates; request i is template
i mod n with the marker `@@SEQ@@@@` (in a header or the body) replaced by i, zero-padded
to the same width, so that every request can carry a unique Idempotency-Key at no cost.

It reports throughput (responses with an expected status per second), latency
percentiles of every response and per status, errors with samples, its own CPU use and
the server's (from /proc), and on request every latency and every status in order.

`python bench/loadgen.py stub PORT` serves a fixed 200 to every request: as cheap as a
server gets, so the load generator against it shows its own ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from common import HOST, Latency, proc_cpu_seconds, self_cpu_seconds

T = TypeVar("T")

SEQ_MARKER = b"@@SEQ@@@@"
SEQ_WIDTH = len(SEQ_MARKER)


@dataclass
class LoadSpec:
    label: str
    port: int
    templates: list[str]  # raw HTTP/1.1 requests (latin-1), with SEQ_MARKER where wanted
    expect_status: list[int]
    total: int
    warmup: int
    concurrency: int
    max_seconds: float
    progress_seconds: float
    server_pid: int | None = None
    cpu: int | None = None  # pin the load generator to this CPU
    body_must_contain: dict[str, str] | None = None  # status -> what its body must contain
    return_samples: bool = False  # every latency of the measured pass, in order of completion
    return_statuses: bool = False  # the status of each measured request, by its index
    result_path: str = ""


@dataclass(frozen=True)
class LoadResult:
    label: str
    concurrency: int
    requests: int  # sent in the measured pass
    ok: int  # answered with an expected status (and body)
    warmup_ok: int
    warmup_statuses: dict[str, int]
    errors: int
    error_samples: list[str]
    seconds: float
    rps: float  # ok per second
    first_rps: float  # responses per second over the first 10% of them
    last_rps: float  # and over the last 10%
    latency: Latency  # every response, errors included
    latency_by_status: dict[str, Latency]
    statuses: dict[str, int]  # responses per status
    client_cpu_pct: float
    server_cpu_pct: float | None
    samples_ns: list[int] | None = None
    status_of: list[int] | None = None  # by request index; 0: no response

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(
            **{
                **data,
                "latency": Latency(**data["latency"]),
                "latency_by_status": {
                    k: Latency(**v) for k, v in data["latency_by_status"].items()
                },
            }
        )

    def cpu(self) -> str:
        server = "n/a" if self.server_cpu_pct is None else f"{self.server_cpu_pct:.0f}%"
        return f"CPU server {server} / client {self.client_cpu_pct:.0f}%"

    def details(self) -> str:
        text = f"{self.latency.brief()}, errors {self.errors}, {self.cpu()}"
        if self.first_rps == self.first_rps and self.last_rps == self.last_rps:  # not NaN
            text += f", first 10% {self.first_rps:,.0f}/s, last 10% {self.last_rps:,.0f}/s"
        return text

    def brief(self) -> str:
        return f"{self.rps:,.0f} req/s, {self.details()}"


class _Pass:
    """Shared state of one pass (one event loop, so no locks). Every request taken ends
    as a response (ok, or an error if its status or body is not the expected one) or as a
    transport failure (an error)."""

    def __init__(self, spec: LoadSpec, total: int, offset: int) -> None:
        self.spec = spec
        self.total = total
        self.offset = offset  # the SEQ of request 0 of this pass
        self.deadline = time.perf_counter() + spec.max_seconds
        self.expect = frozenset(spec.expect_status)
        self.must_contain = {
            int(status): text.encode() for status, text in (spec.body_must_contain or {}).items()
        }
        self.issued = 0
        self.finished = 0
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.latencies_ns: list[int] = []
        self.started_ns = time.perf_counter_ns()
        self.done_ns: list[int] = []  # when each response came, in order
        self.by_status: dict[int, list[int]] = {}
        self.status_of = [0] * total if spec.return_statuses else None

    def take(self) -> int | None:
        if self.issued >= self.total or time.perf_counter() > self.deadline:
            return None
        self.issued += 1
        return self.issued - 1

    def record(self, index: int, status: int, body: bytes, elapsed_ns: int) -> None:
        self.latencies_ns.append(elapsed_ns)
        self.done_ns.append(time.perf_counter_ns())
        self.by_status.setdefault(status, []).append(elapsed_ns)
        if self.status_of is not None:
            self.status_of[index] = status
        needle = self.must_contain.get(status)
        if status not in self.expect:
            self.fail(f"HTTP {status}: {body[:300]!r}")
        elif needle is not None and needle not in body:
            self.fail(f"HTTP {status} without {needle!r}: {body[:300]!r}")
        else:
            self.finished += 1
            self.ok += 1

    def rate_of_tenth(self, *, first: bool) -> float:
        """Responses per second over the first (or last) 10% of them: does the server
        slow down as the run goes on?"""
        done = self.done_ns
        tenth = len(done) // 10
        if tenth < 2:
            return float("nan")
        if first:
            return tenth / ((done[tenth - 1] - self.started_ns) / 1e9)
        return (tenth - 1) / ((done[-1] - done[-tenth]) / 1e9)

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


def _request(templates: list[bytes], has_marker: list[bool], seq: int) -> bytes:
    template = templates[seq % len(templates)]
    if not has_marker[seq % len(templates)]:
        return template
    return template.replace(SEQ_MARKER, f"{seq:0{SEQ_WIDTH}d}".encode())


async def _connection(
    spec: LoadSpec, templates: list[bytes], has_marker: list[bool], state: _Pass
) -> None:
    """One keep-alive connection sending requests one after the other."""
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while (i := state.take()) is not None:
            request = _request(templates, has_marker, state.offset + i)
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(
                        HOST, spec.port, limit=16 * 1024 * 1024
                    )
                start = time.perf_counter_ns()
                writer.write(request)
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
            state.record(i, status, body, elapsed)
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


async def _load_pass(
    spec: LoadSpec, templates: list[bytes], has_marker: list[bool], total: int, offset: int
) -> _Pass:
    state = _Pass(spec, total, offset)
    reporter = asyncio.create_task(_progress(spec.label, state, spec.progress_seconds))
    workers = [
        asyncio.create_task(_connection(spec, templates, has_marker, state))
        for _ in range(max(1, min(spec.concurrency, total)))
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout=spec.max_seconds + 30)
    finally:
        reporter.cancel()
        for worker in workers:
            worker.cancel()
    return state


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is there (it is in requirements.lock), else on asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def loadgen_main(spec_path: str) -> int:
    spec = LoadSpec(**json.loads(Path(spec_path).read_text()))
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})
    templates = [t.encode("latin-1") for t in spec.templates]
    has_marker = [SEQ_MARKER in t for t in templates]
    warmup_ok, warmup_statuses = 0, {}
    if spec.warmup:
        # The warm-up takes SEQ numbers after the measured pass's, so both are unique.
        warm = run_async(_load_pass(spec, templates, has_marker, spec.warmup, spec.total))
        warmup_ok = warm.ok
        warmup_statuses = {str(s): len(v) for s, v in warm.by_status.items()}
        if warm.errors:
            print(f"          [{spec.label}] warm-up errors: {warm.error_samples}", flush=True)
    cpu0, server0, t0 = self_cpu_seconds(), proc_cpu_seconds(spec.server_pid), time.perf_counter()
    state = run_async(_load_pass(spec, templates, has_marker, spec.total, 0))
    seconds = time.perf_counter() - t0
    cpu1, server1 = self_cpu_seconds(), proc_cpu_seconds(spec.server_pid)
    server_pct = None if server0 is None or server1 is None else (server1 - server0) / seconds * 100
    result = LoadResult(
        label=spec.label,
        concurrency=spec.concurrency,
        requests=state.issued,
        ok=state.ok,
        warmup_ok=warmup_ok,
        warmup_statuses=warmup_statuses,
        errors=state.errors + (spec.total - state.issued),  # unsent requests are errors too
        error_samples=state.error_samples,
        seconds=seconds,
        rps=state.ok / seconds if seconds else 0.0,
        first_rps=state.rate_of_tenth(first=True),
        last_rps=state.rate_of_tenth(first=False),
        latency=Latency.of(state.latencies_ns),
        latency_by_status={str(s): Latency.of(v) for s, v in sorted(state.by_status.items())},
        statuses={str(s): len(v) for s, v in sorted(state.by_status.items())},
        client_cpu_pct=(cpu1 - cpu0) / seconds * 100,
        server_cpu_pct=server_pct,
        samples_ns=state.latencies_ns if spec.return_samples else None,
        status_of=state.status_of,
    )
    Path(spec.result_path).write_text(json.dumps(asdict(result)))
    return 0


# --- the stub server ---------------------------------------------------------------------

_STUB_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: application/json\r\n\r\n"
    b'{"status":"ok"}'
)


class _StubProtocol(asyncio.Protocol):
    """Answers every bodiless request with a fixed 200."""

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


def stub_main(port: str) -> int:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_StubProtocol, HOST, int(port))
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        run_async(serve())
    return 0


@dataclass
class RawRequest:
    """Builds raw HTTP/1.1 requests."""

    bearer: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def build(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
        if self.bearer:
            lines.append(f"Authorization: Bearer {self.bearer}")
        for name, value in {**self.extra_headers, **(headers or {})}.items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


if __name__ == "__main__":
    commands = {"run": loadgen_main, "stub": stub_main}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit("usage: loadgen.py run SPEC.json | loadgen.py stub PORT")
    sys.exit(commands[sys.argv[1]](sys.argv[2]))
