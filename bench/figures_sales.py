"""Supermarket sales over real HTTP: `POST /v1/villages/{id}/sales`, 64 tills at once.

Each request is a basket redeemed by a member (points from the member to the supermarket
and the goods off the shelf, in one entry), with an Idempotency-Key of its own. Two
layouts: spread over the members of a township's eight villages (each village's own
cashier, its own shelf), and all into one village (the market village of the world).
Members hold points for about nine baskets in ten, so some sales are refused for want of
points (409 insufficient_points), as at a real till.

The checks afterwards read the books: no member and no shelf below zero, every
acknowledged sale is one receipt and one entry, nothing else was sold, and each village's
chain verifies.

    .venv/bin/python bench/figures_sales.py                     # PostgreSQL, both layouts
    .venv/bin/python bench/figures_sales.py --backend sqlite --quick
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backends import POSTGRESQL, SQLITE_FULL, Backend, Databases, Fresh, Village, WorldSize
from common import log
from figures_http import _key, verify_over_http
from loadgen import RawRequest
from servers import jifen_server, run_load

# (name, unit, points): a small shelf, priced as the demo's.
SHELF = [("肥皂", "块", 5), ("毛巾", "条", 6), ("洗衣粉（1千克）", "袋", 8), ("酱油", "瓶", 6)]
BASKET_LINES_MAX = 3


def _stock_and_points(
    fresh: Fresh, villages: list[Village], requests_each: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Each village's shelf (stock for every request) and points for its members: about
    nine baskets in ten covered. Returns, per village: member ids and goods (id, price)."""
    from sqlalchemy import select

    from jifen.ledger import service as ledger
    from jifen.market import service as market
    from jifen.models import Account

    db = fresh.database()
    out: dict[str, dict[str, Any]] = {}
    try:
        for village in villages:
            with db.unit_of_work() as session:
                clock = ledger.Clock(now=_now(), settings=db.settings)
                village_id = uuid.UUID(village.id)
                goods = []
                for name, unit, points in SHELF:
                    made = market.create_goods(
                        session,
                        village_id=village_id,
                        spec=market.GoodsInput(name, unit, "日用品", points),
                        actor="bench",
                        clock=clock,
                    )
                    market.move_stock(
                        session,
                        goods_id=made.id,
                        kind="donation",
                        quantity=requests_each[village.id] * BASKET_LINES_MAX * 3,
                        amount_fen=0,
                        donor=market.Donor("other", None, "bench"),
                        reason=None,
                        note="",
                        actor="bench",
                        clock=clock,
                        idempotency_key=None,
                    )
                    goods.append((str(made.id), points))
                accounts = [uuid.UUID(a) for a in village.member_account_ids]
                members = dict(
                    session.execute(
                        select(Account.id, Account.member_id).where(Account.id.in_(accounts))
                    ).all()
                )
                # A basket costs about 15 points on average: cover 90% of what is asked
                # of each member (counting what the world gave them already).
                target = round(0.9 * 15 * requests_each[village.id] / len(accounts))
                per_member = target - ledger.get_balance(session, accounts[0]).available
                issuance = uuid.UUID(village.issuance_id)
                for account in accounts if per_member > 0 else []:
                    ledger.book(
                        session,
                        village_id=village_id,
                        code="labor_award",
                        postings=[
                            ledger.PostingInput(issuance, -per_member),
                            ledger.PostingInput(account, per_member),
                        ],
                        actor="bench",
                        clock=clock,
                    )
                out[village.id] = {
                    "members": [str(members[a]) for a in accounts],
                    "goods": goods,
                    "awarded": per_member,
                }
    finally:
        db.dispose()
    return out


def _now() -> Any:
    from jifen.kit.clock import utc_now

    return utc_now()


def _plan(
    villages: list[Village], shelves: dict[str, dict[str, Any]], requests: int, seed: int
) -> list[tuple[Village, str, list[tuple[str, int]], int]]:
    """(village, member id, basket lines, total points) per request, from a seeded RNG;
    in the township layout the villages take turns."""
    rng = random.Random(seed)
    plan = []
    for n in range(requests):
        village = villages[n % len(villages)]
        shelf = shelves[village.id]
        picked = rng.sample(shelf["goods"], rng.randint(1, BASKET_LINES_MAX))
        lines = [(goods_id, rng.randint(1, 2)) for goods_id, _ in picked]
        total = sum(q * price for (_, q), (_, price) in zip(lines, picked, strict=True))
        plan.append((village, rng.choice(shelf["members"]), lines, total))
    return plan


def _check(fresh: Fresh, villages: list[Village], acknowledged: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, func, select

    from jifen.models import Account, AccountBalance, Entry, Sale

    ids = [uuid.UUID(v.id) for v in villages]
    engine = create_engine(fresh.url)
    try:
        with engine.connect() as conn:

            def lowest(kind: str) -> int:
                return int(
                    conn.execute(
                        select(func.min(AccountBalance.posted - AccountBalance.pending_debits))
                        .join(Account, Account.id == AccountBalance.account_id)
                        .where(Account.village_id.in_(ids), Account.kind == kind)
                    ).scalar_one()
                )

            member_low, shelf_low = lowest("member"), lowest("shelf")
            sales = conn.execute(
                select(func.count()).select_from(Sale).where(Sale.village_id.in_(ids))
            ).scalar_one()
            entries = conn.execute(
                select(func.count())
                .select_from(Entry)
                .where(Entry.village_id.in_(ids), Entry.code == "supermarket_sale")
            ).scalar_one()
    finally:
        engine.dispose()
    problems = []
    if member_low < 0:
        problems.append(f"OVERDRAFT: a member's balance is {member_low}")
    if shelf_low < 0:
        problems.append(f"NEGATIVE STOCK: a shelf holds {shelf_low}")
    if not sales == entries == acknowledged:
        problems.append(
            f"MISMATCH: {acknowledged} acknowledged, {sales} receipts, {entries} entries"
        )
    return {
        "ok": not problems,
        "problem": "; ".join(problems),
        "lowest_member_balance": member_low,
        "lowest_shelf": shelf_low,
        "receipts": sales,
        "sale_entries": entries,
    }


def http_sales(
    args: argparse.Namespace,
    dbs: Databases,
    work: Path,
    backend: Backend,
    layout: str,
) -> dict[str, Any]:
    label = f"sales {backend.label}, {layout}, c={args.concurrency}"
    tag = f"s-{secrets.token_hex(4)}"
    with dbs.figure(backend, f"http-sales-{layout}") as (fresh, world):
        villages = [world.market] if layout == "one-village" else list(world.villages)
        requests_each = {
            v.id: len(range(i, args.requests, len(villages))) for i, v in enumerate(villages)
        }
        log(f"{label}: stocking {len(villages)} shelf(s) and awarding points")
        shelves = _stock_and_points(fresh, villages, requests_each)
        plan = _plan(villages, shelves, args.requests, args.seed)
        templates = []
        for village, member_id, lines, total in plan:
            body = json.dumps(
                {
                    "member_id": member_id,
                    "lines": [{"goods_id": g, "quantity": q} for g, q in lines],
                    "expected_total_points": total,
                }
            ).encode()
            templates.append(
                RawRequest(village.cashier_key).build(
                    "POST", f"/v1/villages/{village.id}/sales", body, {"Idempotency-Key": _key(tag)}
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
                concurrency=args.concurrency,
                expect_status=(201, 409),
                server_pid=server.pid,
                body_must_contain={"409": "insufficient_points"},
                return_statuses=True,
            )
            peak = server.peak_rss_mb()
            verified = verify_over_http(server, world, villages)
        acknowledged = load.statuses.get("201", 0)
        checks = _check(fresh, villages, acknowledged)
        broken = [v for v, d in verified.items() if not d["intact"]]
        if broken:
            checks["ok"] = False
            checks["problem"] += f"; BROKEN chain in {len(broken)} village(s)"
    ok = load.latency_by_status.get("201")
    result = {
        "figure": f"sales-{layout}",
        "backend": backend.label,
        "concurrency": args.concurrency,
        "requests": load.requests,
        "sold": acknowledged,
        "refused": load.statuses.get("409", 0),
        "errors": load.errors,
        "requests_per_second": load.rps,
        "sales_per_second": acknowledged / load.seconds if load.seconds else 0.0,
        "latency_all": asdict(load.latency),
        "latency_201": asdict(ok) if ok else None,
        "server_peak_rss_mb": peak,
        "cpu": load.cpu(),
        "checks": checks,
    }
    log(
        f"{label}: {load.rps:,.0f} requests/s ({acknowledged:,} sold, "
        f"{result['refused']:,} refused, {load.errors} errors), all {load.latency.brief()}; "
        f"books {'ok' if checks['ok'] else checks['problem']}; lowest member balance "
        f"{checks['lowest_member_balance']}, lowest shelf {checks['lowest_shelf']}; "
        f"{load.cpu()}"
    )
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--layouts", default="township,one-village")
    p.add_argument("--requests", type=int, default=6000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="1,000 requests, a smaller world")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--pin", action="store_true", help="server on CPU 0, load generator on 1")
    p.add_argument("--http-max-seconds", type=float, default=600.0)
    p.add_argument("--progress-seconds", type=float, default=5.0)
    p.add_argument("--no-webhook-worker", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.requests = min(args.requests, 1000)
    size = (
        WorldSize(members=250, members_other=32, market_members=200, history_entries=1000)
        if args.quick
        else WorldSize()
    )
    backend = POSTGRESQL if args.backend == "postgresql" else SQLITE_FULL
    results = []
    with tempfile.TemporaryDirectory(prefix="jifen-bench-sales-") as tmp:
        dbs = Databases(Path(tmp), args.pg_url.rstrip("/"), size)
        try:
            for layout in [x.strip() for x in args.layouts.split(",") if x.strip()]:
                results.append(http_sales(args, dbs, Path(tmp), backend, layout))
        finally:
            dbs.close()
    print("\nfigure | backend | clients | sales/s | requests/s | p50 | p99 | refused | books")
    for r in results:
        lat = r["latency_all"]
        print(
            f"{r['figure']} | {r['backend']} | {r['concurrency']} | {r['sales_per_second']:,.0f}"
            f" | {r['requests_per_second']:,.0f} | {lat['p50_us'] / 1000:.1f} ms"
            f" | {lat['p99_us'] / 1000:.1f} ms | {r['refused']:,} | "
            f"{'ok' if r['checks']['ok'] else r['checks']['problem']}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    return 0 if all(r["checks"]["ok"] and not r["errors"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
