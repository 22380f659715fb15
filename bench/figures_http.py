"""Bookings and redemptions over real HTTP: a `jifen serve` subprocess (one worker, the
webhook worker in-process as by default, the rate limiter counting but never refusing)
on a fresh database, and the load generator in a process of its own.

- POST /v1/entries, one booking per request, every request with a unique
  Idempotency-Key and the API key of the village's clerk, at 1, 16 and 64 requests in
  flight: (a) all into village 0, members round-robin; (b) spread round-robin over the
  8 villages of the township (each with its own clerk's key);
- POST /v1/villages/{id}/entry-batches: 1,000 bookings per request (each item with its
  own idempotency key), 1 and 4 requests in flight, all into village 0;
- redemptions: 64 clients, each request a redemption (member -N -> the village
  supermarket +N, N from a seeded RNG between 5 and 40, the member at random) by the
  supermarket cashier, with members awarded about as much as is asked of them in all,
  so that a share of the requests is refused with 409 insufficient_points.

After each run the books are checked: the chain verifies (GET .../verification), the
entries are exactly the acknowledged bookings, and for redemptions no member is below
zero and the supermarket holds the sum of the acknowledged ones. The server's peak
memory (VmHWM) is read at the end of each run.

References measured in the same run: the load generator's ceiling against a stub
server, and GET /healthz on a jifen server (the framework's floor), at each concurrency.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends import Backend, Databases, Fresh, Village, World
from common import Latency, log
from figures_service import pg_stats_brief, pg_table_stats
from loadgen import SEQ_MARKER, LoadResult, RawRequest
from profiling import PySpy
from servers import Server, client_ceiling, jifen_server, run_load

REDEEM_MIN, REDEEM_MAX = 5, 40


@dataclass(frozen=True)
class HttpResult:
    backend: str
    figure: str  # "entries-one-village", "entries-township", "entry-batches", "redemptions"
    concurrency: int
    load: LoadResult
    bookings_per_second: float
    bookings: int  # acknowledged in the measured pass
    server_peak_rss_mb: float | None
    server_start_rss_mb: float | None  # the same server, idle after its start
    books_check: str  # "ok" or what is wrong
    checks: dict[str, Any]
    table_stats: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None

    def brief(self) -> str:
        peak = (
            f"{self.server_peak_rss_mb:,.0f} MB "
            f"(idle after start {self.server_start_rss_mb:,.0f} MB)"
            if self.server_peak_rss_mb and self.server_start_rss_mb
            else "n/a"
        )
        return (
            f"{self.bookings_per_second:,.0f} bookings/s, {self.load.details()}, "
            f"server peak RSS {peak}, books {self.books_check}"
        )


def _key(tag: str) -> str:
    return f"{tag}-{SEQ_MARKER.decode()}"


def entry_request(village: Village, member_account: str, amount: int, tag: str) -> bytes:
    body = json.dumps(
        {
            "village_id": village.id,
            "code": "labor_award",
            "memo": "bench award",
            "postings": [
                {"account_id": village.issuance_id, "amount": -amount},
                {"account_id": member_account, "amount": amount},
            ],
        }
    ).encode()
    return RawRequest(village.clerk_key).build(
        "POST", "/v1/entries", body, {"Idempotency-Key": _key(tag)}
    )


def booking_templates(world: World, layout: str, tag: str, members_per_village: int) -> list[bytes]:
    """Request i books into village 0 (layout "one") or village i mod 8 ("township"),
    members round-robin."""
    if layout == "one":
        village = world.villages[0]
        return [entry_request(village, a, 2, tag) for a in village.member_account_ids]
    templates = []
    for m in range(members_per_village):
        for village in world.villages:
            templates.append(entry_request(village, village.member_account_ids[m], 2, tag))
    return templates


def verify_over_http(server: Server, world: World, villages: Sequence[Village]) -> dict[str, Any]:
    """GET /v1/villages/{id}/verification for each village: intact, and its entries."""
    out = {}
    for village in villages:
        data = server.get(f"/v1/villages/{village.id}/verification", world.admin_key)
        out[village.id] = {"intact": data["is_intact"], "entries": data["last_seq"]}
    return out


def _books_check(verified: dict[str, Any], expected_entries: int) -> str:
    broken = [v for v, d in verified.items() if not d["intact"]]
    entries = sum(d["entries"] for d in verified.values())
    if broken:
        return f"BROKEN chain or balances in {len(broken)} village(s)"
    if entries != expected_entries:
        return f"MISMATCH: {expected_entries:,} bookings acknowledged, {entries:,} entries"
    return "ok"


def http_entries(
    args: argparse.Namespace,
    dbs: Databases,
    work: Path,
    backend: Backend,
    layout: str,
    concurrency: int,
    *,
    profile_path: Path | None = None,
) -> HttpResult:
    figure = "entries-one-village" if layout == "one" else "entries-township"
    where = "village 0" if layout == "one" else "8 villages"
    label = f"POST /v1/entries {backend.label}, {where}, c={concurrency}"
    tag = f"c{concurrency}-{secrets.token_hex(4)}"
    with dbs.figure(backend, f"http-{layout}-c{concurrency}") as (fresh, world):
        sql_out = profile_path.with_suffix(".sql.json") if profile_path else None
        with jifen_server(args, work, fresh, sql_timer_out=sql_out) as server:
            templates = booking_templates(
                world, layout, tag, len(world.villages[-1].member_account_ids)
            )
            spy = PySpy(server.pid, profile_path, args.profile_rate) if profile_path else None
            try:
                load = run_load(
                    args,
                    work,
                    label=label + (" (profiled)" if profile_path else ""),
                    port=server.port,
                    templates=templates,
                    # One at a time the latency is the figure; fewer requests tell it.
                    total=args.http_requests_c1 if concurrency == 1 else args.http_requests,
                    warmup=args.http_warmup,
                    concurrency=concurrency,
                    expect_status=(201,),
                    server_pid=server.pid,
                )
            finally:
                if spy is not None:
                    spy.stop()
            peak, start_rss = server.peak_rss_mb(), server.start_rss_mb
            villages = world.villages[:1] if layout == "one" else world.villages
            verified = verify_over_http(server, world, villages)
        acknowledged = load.warmup_statuses.get("201", 0) + load.statuses.get("201", 0)
        books = _books_check(verified, acknowledged)
        stats = pg_table_stats(fresh) if backend.kind == "postgresql" else None
    result = HttpResult(
        backend=backend.label,
        figure=figure,
        concurrency=concurrency,
        load=load,
        bookings_per_second=load.rps,
        bookings=load.ok,
        server_peak_rss_mb=peak,
        server_start_rss_mb=start_rss,
        books_check=books,
        checks={"verification": verified},
        table_stats=stats,
        profile=(
            {"raw": str(profile_path), "sql": str(sql_out), "seconds": spy.seconds}
            if spy is not None
            else None
        ),
    )
    log(f"{label}: {result.brief()}")
    if stats:
        log("  " + pg_stats_brief(stats))
    return result


def http_batches(
    args: argparse.Namespace,
    dbs: Databases,
    work: Path,
    backend: Backend,
    concurrency: int,
) -> HttpResult:
    items = args.batch_items
    label = f"POST entry-batches {backend.label}, {items:,} items, c={concurrency}"
    tag = f"b{concurrency}-{secrets.token_hex(4)}"
    with dbs.figure(backend, f"http-batches-c{concurrency}") as (fresh, world):
        village = world.villages[0]
        members = village.member_account_ids
        body = json.dumps(
            {
                "items": [
                    {
                        "idempotency_key": f"{_key(tag)}-{k:04d}",
                        "code": "labor_award",
                        "memo": "bench award",
                        "postings": [
                            {"account_id": village.issuance_id, "amount": -2},
                            {"account_id": members[k % len(members)], "amount": 2},
                        ],
                    }
                    for k in range(items)
                ]
            }
        ).encode()
        request = RawRequest(village.clerk_key).build(
            "POST", f"/v1/villages/{village.id}/entry-batches", body
        )
        with jifen_server(args, work, fresh) as server:
            load = run_load(
                args,
                work,
                label=label,
                port=server.port,
                templates=[request],
                total=args.batch_requests,
                warmup=1,
                concurrency=concurrency,
                expect_status=(200,),
                server_pid=server.pid,
                body_must_contain={"200": f'"done": {items}, "replayed": 0, "refused": 0'},
            )
            peak, start_rss = server.peak_rss_mb(), server.start_rss_mb
            verified = verify_over_http(server, world, [village])
        books = _books_check(verified, (load.warmup_ok + load.ok) * items)
        stats = pg_table_stats(fresh) if backend.kind == "postgresql" else None
    result = HttpResult(
        backend=backend.label,
        figure="entry-batches",
        concurrency=concurrency,
        load=load,
        bookings_per_second=load.rps * items,
        bookings=load.ok * items,
        server_peak_rss_mb=peak,
        server_start_rss_mb=start_rss,
        books_check=books,
        checks={"verification": verified, "items_per_request": items},
        table_stats=stats,
    )
    log(f"{label}: {result.brief()}")
    return result


def redemption_plan(world: World, requests: int, seed: int) -> list[tuple[str, int]]:
    """(member account, points) of each request, from a seeded RNG."""
    rng = random.Random(seed)
    members = world.market.member_account_ids
    return [(rng.choice(members), rng.randint(REDEEM_MIN, REDEEM_MAX)) for _ in range(requests)]


def market_award_points(requests: int, members: int) -> int:
    """What each market member is awarded: about as much as will be asked of them."""
    return max(REDEEM_MAX, round(requests * (REDEEM_MIN + REDEEM_MAX) / 2 / members))


def http_redemptions(
    args: argparse.Namespace, dbs: Databases, work: Path, backend: Backend
) -> HttpResult:
    concurrency = args.redeem_concurrency
    label = f"redemptions {backend.label}, c={concurrency}"
    tag = f"r-{secrets.token_hex(4)}"
    with dbs.figure(backend, "http-redemptions") as (fresh, world):
        market = world.market
        plan = redemption_plan(world, args.redemptions, args.seed)
        templates = []
        for member, points in plan:
            body = json.dumps(
                {
                    "village_id": market.id,
                    "code": "redemption",
                    "memo": "积分超市兑换",
                    "postings": [
                        {"account_id": member, "amount": -points},
                        {"account_id": market.supermarket_id, "amount": points},
                    ],
                }
            ).encode()
            templates.append(
                RawRequest(market.cashier_key).build(
                    "POST", "/v1/entries", body, {"Idempotency-Key": _key(tag)}
                )
            )
        with jifen_server(args, work, fresh) as server:
            load = run_load(
                args,
                work,
                label=label,
                port=server.port,
                templates=templates,
                total=len(templates),
                warmup=0,
                concurrency=concurrency,
                expect_status=(201, 409),
                server_pid=server.pid,
                body_must_contain={"409": "insufficient_points"},
                return_statuses=True,
            )
            peak, start_rss = server.peak_rss_mb(), server.start_rss_mb
            verified = verify_over_http(server, world, [market])
        checks = check_redemptions(fresh, world, plan, load)
        checks["verification"] = verified
        acknowledged = load.statuses.get("201", 0)
        books = _books_check(verified, world.market_awards + acknowledged)
        if books == "ok" and not checks["ok"]:
            books = checks["problem"]
        stats = pg_table_stats(fresh) if backend.kind == "postgresql" else None
    result = HttpResult(
        backend=backend.label,
        figure="redemptions",
        concurrency=concurrency,
        load=load,
        bookings_per_second=load.rps,
        bookings=acknowledged,
        server_peak_rss_mb=peak,
        server_start_rss_mb=start_rss,
        books_check=books,
        checks=checks,
        table_stats=stats,
    )
    by = load.latency_by_status
    log(
        f"{label}: {load.rps:,.0f} requests/s ({acknowledged:,} redeemed, "
        f"{load.statuses.get('409', 0):,} refused), all {load.latency.brief()}; "
        f"201 {_brief(by.get('201'))}; 409 {_brief(by.get('409'))}; books {books}; "
        f"lowest member balance {checks['lowest_member_balance']}"
    )
    return result


def _brief(latency: Latency | None) -> str:
    return latency.brief() if latency else "n/a"


def check_redemptions(
    fresh: Fresh, world: World, plan: list[tuple[str, int]], load: LoadResult
) -> dict[str, Any]:
    """No member below zero; the supermarket holds exactly the acknowledged redemptions;
    every acknowledged redemption is an entry, and nothing else is."""
    from sqlalchemy import create_engine, func, select

    from jifen.models import Account, AccountBalance, Entry

    assert load.status_of is not None
    acknowledged = [p for (_m, p), s in zip(plan, load.status_of, strict=True) if s == 201]
    unanswered = sum(1 for s in load.status_of if s == 0)
    market = uuid.UUID(world.market.id)
    engine = create_engine(fresh.url)
    try:
        with engine.connect() as conn:
            lowest = conn.execute(
                select(func.min(AccountBalance.posted))
                .join(Account, Account.id == AccountBalance.account_id)
                .where(Account.village_id == market, Account.kind == "member")
            ).scalar_one()
            supermarket = conn.execute(
                select(AccountBalance.posted).where(
                    AccountBalance.account_id == uuid.UUID(world.market.supermarket_id)
                )
            ).scalar_one()
            redemptions = conn.execute(
                select(func.count())
                .select_from(Entry)
                .where(Entry.village_id == market, Entry.code == "redemption")
            ).scalar_one()
    finally:
        engine.dispose()
    problems = []
    if lowest < 0:
        problems.append(f"OVERDRAFT: a member's balance is {lowest}")
    if supermarket != sum(acknowledged):
        problems.append(
            f"MISMATCH: the supermarket holds {supermarket}, acknowledged {sum(acknowledged)}"
        )
    if redemptions != len(acknowledged) and not unanswered:
        problems.append(f"MISMATCH: {redemptions} redemptions booked, {len(acknowledged)} acked")
    return {
        "ok": not problems,
        "problem": "; ".join(problems),
        "lowest_member_balance": lowest,
        "supermarket_points": supermarket,
        "acknowledged_points": sum(acknowledged),
        "redemption_entries": redemptions,
        "acknowledged": len(acknowledged),
        "unanswered": unanswered,
    }


# --- references ----------------------------------------------------------------------------


def http_references(
    args: argparse.Namespace, dbs: Databases, work: Path, backend: Backend
) -> dict[int, LoadResult]:
    """GET /healthz on a jifen server at each concurrency: the framework's floor."""
    out = {}
    with (
        dbs.figure(backend, "http-healthz") as (fresh, _world),
        jifen_server(args, work, fresh) as server,
    ):
        for concurrency in args.concurrency_list:
            out[concurrency] = run_load(
                args,
                work,
                label=f"GET /healthz {backend.label} (c={concurrency})",
                port=server.port,
                templates=[RawRequest().build("GET", "/healthz")],
                total=args.healthz_requests,
                warmup=min(500, args.healthz_requests),
                concurrency=concurrency,
                server_pid=server.pid,
            )
    return out


def ceilings(args: argparse.Namespace, work: Path) -> dict[int, LoadResult]:
    return {c: client_ceiling(args, work, c) for c in args.concurrency_list}
