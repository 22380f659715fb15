"""jifen's benchmark: every figure next to a reference measured in the same run.

    make bench                          # the full set, SQLite and PostgreSQL (~60 minutes)
    make bench-quick                    # everything small (10-20 minutes)
    .venv/bin/python bench/run.py --help

What it measures (docs/benchmarks.md explains each figure and what bounds it):

1. the raw storage limit (reference): the rows jifen writes per booking, inserted with
   the bare driver (sqlite3 executemany; psycopg multi-row INSERT and COPY), 1, 16, 64
   and 1,000 bookings per commit (figures_raw.py);
2. bookings/s through the service layer in-process: one per unit of work, 1,000 per
   unit of work, and through the group committer (figures_service.py);
3. bookings/s over HTTP against a `jifen serve` subprocess: one per request at 1, 16 and
   64 in flight, into one village and over a township's 8 villages; the batch endpoint;
   redemptions by 64 clients with the books checked afterwards; references: the load
   generator's ceiling and GET /healthz (figures_http.py);
4. balance and statement reads at 10k and 1M entries, and the ratio (figures_reads.py);
   the township's quarterly 以奖代补 settlement over a county (200 villages, 100,000
   households, 1,000,000 labor records and entries), next to one raw grouped query over
   the same records (figures_subsidies.py);
5. the server's peak memory, next to the same server's idle memory after its start;
   django-hordak on the same PostgreSQL right after the service figures (bench/peers/,
   --no-peers to skip); with --profile, py-spy profiles of the server and of the
   in-process committer (profiling.py).

A figure whose reference is the raw storage limit brings it along when run alone.

Progress lines while it works; a summary at the end; the results in
bench/out/bench-<time>.json; and, for a full run, docs/benchmarks.md's generated section.
Every figure gets a fresh database (a SQLite file, or a PostgreSQL database of its own
that is dropped afterwards). If PostgreSQL does not answer, the SQLite figures still run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import report
from backends import POSTGRESQL, SQLITE_FULL, SQLITE_NORMAL, Backend, Databases, WorldSize
from common import (
    BENCH,
    OUT_DIR,
    ROOT,
    elapsed,
    git_state,
    log,
    machine_facts,
    other_processes,
)
from figures_http import (
    ceilings,
    http_batches,
    http_entries,
    http_redemptions,
    http_references,
    market_award_points,
)
from figures_raw import raw_figures
from figures_reads import read_figures, read_ratios
from figures_service import measure_service, service_figures
from figures_subsidies import measure as measure_subsidies
from loadgen import LoadResult
from profiling import gc_line, profile_tables, py_spy, read_collapsed, sql_table, summarise_threads

DOCS = ROOT / "docs" / "benchmarks.md"
PEERS = BENCH / "peers" / "run_hordak.sh"

FIGURES = ("raw", "service", "entries", "batches", "redemptions", "reads", "subsidies")
HTTP_FIGURES = {"entries", "batches", "redemptions"}
# Figures whose reference is the raw storage limit: it is measured with them.
NEEDS_RAW = {"service", "entries", "batches"}

QUICK = {
    "members": 250,
    "members_other": 32,
    "history": 1000,
    "raw_single": 300,
    "service_single": 300,
    "batches": 10,
    "http_requests": 1000,
    "http_requests_c1": 400,
    "http_warmup": 50,
    "batch_requests": 3,
    "redemptions": 1000,
    "healthz_requests": 1500,
    "ceiling_requests": 10_000,
    "entries_large": 100_000,
    "reads": 300,
    "read_warmup": 30,
    "read_rounds": 3,
    "grow_requests": 1000,
    "profile_requests": 1000,
    "county_households": 5000,
    "county_entries": 50_000,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark jifen: every figure next to a reference from the same run "
        "(see docs/benchmarks.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help=f"everything small: {QUICK}")
    g = p.add_argument_group("databases")
    g.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    g.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server, no database: a database per figure is made and dropped",
    )
    g.add_argument(
        "--sqlite-sync",
        default="FULL,NORMAL",
        help="SQLite synchronous modes: FULL gets every figure, NORMAL the raw reference "
        "and HTTP one-village bookings",
    )
    g.add_argument("--members", type=int, default=1000, help="member accounts in village 0")
    g.add_argument("--members-other", type=int, default=125, help="in each of villages 1-7")
    g.add_argument("--market-members", type=int, default=200, help="in the redemption village")
    g.add_argument(
        "--history", type=int, default=10_000, help="entries of a third township's village"
    )
    g = p.add_argument_group("raw storage and service layer")
    g.add_argument("--raw-single", type=int, default=2000, help="raw bookings, one per commit")
    g.add_argument("--raw-per-commit", default="1,16,64,1000", help="raw bookings per commit")
    g.add_argument("--service-single", type=int, default=2000, help="one per unit of work")
    g.add_argument("--batch-size", type=int, default=1000, help="bookings per unit of work")
    g.add_argument("--batches", type=int, default=10, help="batches in a long run")
    g.add_argument("--threads", type=int, default=16, help="threads calling run_sync()")
    g = p.add_argument_group("HTTP")
    g.add_argument("--concurrency", default="1,16,64", help="requests in flight (a list)")
    g.add_argument("--http-requests", type=int, default=10_000, help="measured POSTs per run")
    g.add_argument("--http-requests-c1", type=int, default=2000, help="the same at c=1")
    g.add_argument("--http-warmup", type=int, default=500, help="unmeasured POSTs first")
    g.add_argument("--batch-items", type=int, default=1000, help="items per batch request")
    g.add_argument("--batch-requests", type=int, default=20, help="measured batch requests")
    g.add_argument("--batch-concurrency", default="1,4", help="batch requests in flight")
    g.add_argument("--redemptions", type=int, default=5000, help="redemption requests")
    g.add_argument("--redeem-concurrency", type=int, default=64, help="redeeming clients")
    g.add_argument("--seed", type=int, default=1, help="of the redemptions' RNG")
    g.add_argument("--healthz-requests", type=int, default=10_000, help="GET /healthz")
    g.add_argument("--ceiling-requests", type=int, default=50_000, help="against the stub")
    g.add_argument("--http-max-seconds", type=float, default=300, help="bound on each run")
    g.add_argument("--pin", action="store_true", help="server on CPU 0, load generator on 1")
    g.add_argument(
        "--no-webhook-worker",
        action="store_true",
        help="serve without the in-process webhook worker (as with `jifen worker` apart)",
    )
    g = p.add_argument_group("reads")
    g.add_argument("--entries-small", type=int, default=10_000, help="first read point")
    g.add_argument("--entries-large", type=int, default=1_000_000, help="second read point")
    g.add_argument("--reads", type=int, default=2000, help="timed reads per size and account")
    g.add_argument("--read-warmup", type=int, default=100, help="untimed reads first")
    g.add_argument("--read-rounds", type=int, default=5, help="the reads come in rounds")
    g.add_argument(
        "--grow-requests",
        type=int,
        default=5000,
        help="POST /v1/entries at c=16 into the books at each read size (0: none)",
    )
    g = p.add_argument_group("the county's settlement (subsidies)")
    g.add_argument("--county-villages", type=int, default=200, help="villages in the township")
    g.add_argument("--county-households", type=int, default=100_000, help="households in all")
    g.add_argument(
        "--county-entries", type=int, default=1_000_000, help="labor records and entries in all"
    )
    g.add_argument("--county-repeat", type=int, default=3, help="settlements timed (best of)")
    g = p.add_argument_group("what to run")
    g.add_argument(
        "--figures",
        default=",".join(FIGURES),
        help="which figures: raw (the storage reference), service, entries (HTTP one per "
        "request), batches (the batch endpoint), redemptions, reads, subsidies (the "
        "county's settlement)",
    )
    g.add_argument("--no-http-reads", action="store_true", help="reads in-process only")
    g.add_argument("--profile", action="store_true", help="py-spy: server at c=16, committer")
    g.add_argument("--profile-requests", type=int, default=3000, help="profiled HTTP requests")
    g.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    g.add_argument("--profile-top", type=int, default=12, help="functions per table")
    g.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"with the service figures on PostgreSQL, run {PEERS.relative_to(ROOT)} "
        "(django-hordak, in a venv of its own made from PyPI the first time) on the same "
        "server with the same sizes",
    )
    g = p.add_argument_group("output")
    g.add_argument("--progress-seconds", type=float, default=5.0, help="between progress lines")
    g.add_argument("--json", type=Path, help="default: bench/out/bench-<time>.json")
    g.add_argument(
        "--docs",
        type=Path,
        help=f"write the generated section there (default: {DOCS.relative_to(ROOT)} for a "
        "full run, nothing for --quick)",
    )
    g.add_argument("--no-docs", action="store_true", help="write no document")
    g.add_argument("--render", type=Path, help="only print and write the docs of a stored run")
    g.add_argument("--keep-tmp", action="store_true", help="keep the SQLite files and logs")
    args = p.parse_args(argv)
    if args.quick:
        p.set_defaults(**QUICK)
        args = p.parse_args(argv)  # explicit flags still win over the quick sizes
    args.backend_list = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    args.sync_list = [m.strip().upper() for m in args.sqlite_sync.split(",") if m.strip()]
    args.concurrency_list = _ints(p, args.concurrency, "--concurrency")
    args.batch_concurrency_list = _ints(p, args.batch_concurrency, "--batch-concurrency")
    args.raw_per_commit_list = _ints(p, args.raw_per_commit, "--raw-per-commit")
    args.figure_set = {f.strip() for f in args.figures.split(",") if f.strip()}
    if not args.figure_set <= set(FIGURES):
        p.error(f"--figures takes {', '.join(FIGURES)}")
    if args.figure_set & NEEDS_RAW:
        args.figure_set.add("raw")  # their reference, from the same run
    # ... at the bookings per commit each of them is read against
    needed = set()
    if "service" in args.figure_set:
        needed |= {1, args.batch_size, args.threads}
    if "entries" in args.figure_set:
        needed |= {1, *args.concurrency_list}
    if "batches" in args.figure_set:
        needed.add(args.batch_items)
    args.raw_per_commit_list = sorted(set(args.raw_per_commit_list) | needed)
    if not set(args.backend_list) <= {"sqlite", "postgresql"}:
        p.error("--backends takes sqlite and/or postgresql")
    if not set(args.sync_list) <= {"FULL", "NORMAL"} or "FULL" not in args.sync_list:
        p.error("--sqlite-sync takes FULL (always) and NORMAL")
    if not 0 < args.entries_small < args.entries_large:
        p.error("need 0 < --entries-small < --entries-large")
    if args.profile and py_spy() is None:
        p.error("--profile needs py-spy: .venv/bin/pip install py-spy")
    if args.pin and (os.cpu_count() or 1) < 2:
        p.error("--pin needs two CPUs")
    return args


def _ints(p: argparse.ArgumentParser, text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        p.error(f"{flag} takes numbers: {text!r}")
    if not values or min(values) < 1:
        p.error(f"{flag} takes positive numbers")
    return values


# --- running ---------------------------------------------------------------------------------


def backends_to_run(args: argparse.Namespace, pg_version: str | None) -> list[Backend]:
    out = []
    if "sqlite" in args.backend_list:
        out.append(SQLITE_FULL)
        if "NORMAL" in args.sync_list:
            out.append(SQLITE_NORMAL)
    if "postgresql" in args.backend_list and pg_version:
        out.append(POSTGRESQL)
    return out


def run_backend(
    args: argparse.Namespace, dbs: Databases, work: Path, backend: Backend
) -> dict[str, Any]:
    out: dict[str, Any] = {"label": backend.label}
    figures = args.figure_set
    if backend == SQLITE_NORMAL:  # the raw reference and one-village HTTP bookings only
        figures = figures & {"raw", "entries"} if "entries" in figures else set()
    if not figures:
        return out
    log(f"===== {backend.label} =====")
    if "raw" in figures:
        per_commit = args.raw_per_commit_list
        if backend == SQLITE_NORMAL:
            per_commit = [c for c in per_commit if c in (1, *args.concurrency_list)]
        out["raw"] = raw_figures(args, dbs, backend, per_commit)
    if "service" in figures:
        out["service"] = service_figures(args, dbs, backend)
        if backend == POSTGRESQL and args.peers:
            out["peers"] = run_peers(args)
    if figures & HTTP_FIGURES:
        out["healthz"] = http_references(args, dbs, work, backend)
        http: dict[str, Any] = {}
        if "entries" in figures:
            http["entries-one-village"] = {
                c: http_entries(args, dbs, work, backend, "one", c) for c in args.concurrency_list
            }
        if "entries" in figures and backend != SQLITE_NORMAL:
            http["entries-township"] = {
                c: http_entries(args, dbs, work, backend, "township", c)
                for c in args.concurrency_list
            }
        if "batches" in figures:
            http["entry-batches"] = {
                c: http_batches(args, dbs, work, backend, c) for c in args.batch_concurrency_list
            }
        if "redemptions" in figures:
            http["redemptions"] = http_redemptions(args, dbs, work, backend)
        out["http"] = http
    if args.profile and backend != SQLITE_NORMAL:
        out["profile"] = profiles(args, dbs, work, backend)
    if "reads" in figures:
        reads = read_figures(args, dbs, work, backend)
        reads["ratios"] = read_ratios(reads)
        out["reads"] = reads
    if "subsidies" in figures:
        out["subsidies"] = measure_subsidies(
            backend.kind,
            args.county_villages,
            args.county_households,
            args.county_entries,
            args.county_repeat,
            pg_url=args.pg_url.rstrip("/"),
        )
    return out


def profiles(
    args: argparse.Namespace, dbs: Databases, work: Path, backend: Backend
) -> dict[str, Any]:
    """py-spy on the server during a c=16 one-village run (an extra run, not a figure),
    and on this process during the committer-threads service run."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out: dict[str, Any] = {}
    concurrency = 16 if 16 in args.concurrency_list else args.concurrency_list[-1]
    raw = OUT_DIR / f"profile-{backend.key}-http-c{concurrency}-{stamp}.txt"
    profiled = argparse.Namespace(
        **{
            **vars(args),
            "http_requests": args.profile_requests,
            "http_requests_c1": args.profile_requests,
            "http_warmup": 0,
        }
    )
    result = http_entries(profiled, dbs, work, backend, "one", concurrency, profile_path=raw)
    threads = read_collapsed(raw)
    sql_path = raw.with_suffix(".sql.json")
    timed = json.loads(sql_path.read_text()) if sql_path.exists() else {}
    sql, gc_stats = timed.get("sql", {}), timed.get("gc", {})
    per = max(1, result.load.ok)
    text = [
        f"py-spy --gil ({args.profile_rate} samples/s) on `jifen serve` during "
        f"{per:,} POST /v1/entries at c={concurrency} into one village ({backend.label}); "
        f"raw stacks: bench/out/{raw.name}",
        f"  under the profiler: {result.load.brief()}",
        *profile_tables(
            threads, per, args.profile_rate, result.profile["seconds"], args.profile_top
        ),
        *(sql_table(sql, per) if sql else []),
        *([gc_line(gc_stats, per)] if timed else []),
    ]
    print("\n".join(text), flush=True)
    out[f"HTTP c={concurrency}"] = {
        "raw": str(raw),
        "text": text,
        "threads": summarise_threads(threads, args.profile_top),
    }
    raw = OUT_DIR / f"profile-{backend.key}-committer-{stamp}.txt"
    service = measure_service(args, dbs, backend, "committer-threads", profile_path=raw)
    threads = read_collapsed(raw)
    text = [
        f"py-spy --gil ({args.profile_rate} samples/s) on the benchmark itself: {service.how}, "
        f"{service.bookings:,} bookings in-process ({backend.label}); raw stacks: "
        f"bench/out/{raw.name}",
        f"  under the profiler: {service.brief()}",
        *profile_tables(
            threads,
            service.bookings,
            args.profile_rate,
            service.profile["seconds"],
            args.profile_top,
            unit="booking",
        ),
        gc_line(service.profile["gc"], service.bookings, unit="booking"),
    ]
    print("\n".join(text), flush=True)
    out["service, committer threads"] = {
        "raw": str(raw),
        "text": text,
        "threads": summarise_threads(threads, args.profile_top),
    }
    return out


def run_peers(args: argparse.Namespace) -> dict[str, Any]:
    if not PEERS.exists():
        return {"error": f"{PEERS.relative_to(ROOT)} does not exist"}
    path = OUT_DIR / f"hordak-{datetime.now():%Y%m%d-%H%M%S}.json"
    options = {
        "--json": path,
        "--pg-url": args.pg_url,
        "--accounts": args.members,
        "--bookings-single": args.service_single,
        "--bookings-batched": args.batches * args.batch_size,
        "--batch-size": args.batch_size,
        "--runs": 1,
        "--progress-seconds": args.progress_seconds,
    }
    cmd = [str(PEERS), *(text for k, v in options.items() for text in (k, str(v)))]
    log(f"peers: {shlex.join(cmd)}")
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0 or not path.exists():
        return {"error": f"{PEERS.name} exited with {done.returncode}"}
    data: dict[str, Any] = json.loads(path.read_text())
    data["json"] = str(path)
    return data


def jsonable(value: Any) -> Any:
    if isinstance(value, LoadResult):
        value = {**asdict(value), "samples_ns": None, "status_of": None}
    elif is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, float) and value != value:  # NaN is no JSON
        return None
    return value


def run(args: argparse.Namespace) -> dict[str, Any]:
    facts = machine_facts()
    started = datetime.now().astimezone()
    loadavg_start = list(os.getloadavg())
    if _is_make():
        command = "make bench-quick" if args.quick else "make bench"
    else:
        command = shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]])
    log("what else runs on the machine (2 s of CPU use by other processes)")
    others_start = other_processes()
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "command": command,
            "argv": sys.argv[1:],
            "quick": args.quick,
            "machine": facts,
            "loadavg_start": loadavg_start,
            "others_start": others_start,
            "git": git_state(),
            "notes": [],
        },
        "params": {k: v for k, v in vars(args).items() if not isinstance(v, Path)},
        "backends": {},
    }
    meta = results["meta"]
    log(
        f"jifen bench ({'quick' if args.quick else 'full'}): {facts['cpu_model']}, "
        f"{facts['cores']} cores, Python {facts['python']}, SQLite {facts['sqlite']}; load "
        f"average {loadavg_start[0]:.2f}; code {meta['git']['commit'][:12]}"
        + (
            f" + local changes in {len(meta['git']['local_changes'])} files"
            if meta["git"]["local_changes"]
            else ""
        )
    )
    if loadavg_start[0] > 0.5 * (facts["cores"] or 1):
        log(f"WARNING: the machine is busy (load average {loadavg_start[0]:.2f}): figures suffer")
    work = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
    size = WorldSize(
        members=args.members,
        members_other=args.members_other,
        market_members=args.market_members,
        market_award_points=market_award_points(args.redemptions, args.market_members),
        history_entries=args.history,
    )
    dbs = Databases(work, args.pg_url.rstrip("/"), size)
    try:
        pg_version = None
        if "postgresql" in args.backend_list:
            pg_version = dbs.postgresql_version()
            if pg_version is None:
                meta["notes"].append(
                    f"PostgreSQL at {args.pg_url} did not answer: SQLite figures only."
                )
        meta["postgresql"] = pg_version
        log(f"working in {work}")
        if args.figure_set & HTTP_FIGURES:
            results["ceiling"] = ceilings(args, work)
        for backend in backends_to_run(args, pg_version):
            results["backends"][backend.key] = run_backend(args, dbs, work, backend)
    finally:
        dbs.close()
        if args.keep_tmp:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta["others_end"] = other_processes()
    meta["loadavg_end"] = list(os.getloadavg())
    meta["seconds"] = elapsed()
    meta["busy"] = max(loadavg_start[0], meta["loadavg_end"][0]) > 0.5 * (facts["cores"] or 1)
    return jsonable(results)


def _is_make() -> bool:
    return bool(os.environ.get("MAKELEVEL"))


def finish(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.render is None:
        path = args.json or OUT_DIR / f"bench-{datetime.now():%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {path}")
    report.print_summary(results)
    docs = None if args.no_docs else args.docs or (None if args.quick else DOCS)
    if docs is not None:
        report.write_docs(docs, report.markdown(results), SKELETON)
        print(f"generated section of {docs} rewritten")


SKELETON = """# Benchmarks

Figures of `make bench` (bench/run.py); see bench/README.md.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render is not None:
        results = json.loads(args.render.read_text())
        finish(args, results)
        return 0
    # A SIGTERM unwinds like Ctrl-C: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, _terminated)
    started = time.monotonic()
    results = run(args)
    finish(args, results)
    log(f"done in {(time.monotonic() - started) / 60:.1f} minutes")
    failed = [a for a in report.aims(results) if a.met is False]
    broken = [
        x
        for b in results["backends"].values()
        for fig in (b.get("http") or {}).values()
        for x in (fig.values() if "load" not in fig else [fig])
        if x["books_check"] != "ok" or x["load"]["errors"]
    ]
    if broken:
        log(f"{len(broken)} HTTP figure(s) had errors or books that do not check out")
    if failed:
        log(f"{len(failed)} aim(s) missed (see the summary)")
    return 1 if broken else 0


def _terminated(signum: int, _frame: object) -> None:
    log(f"stopped by signal {signum}: stopping the servers, dropping the databases")
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
