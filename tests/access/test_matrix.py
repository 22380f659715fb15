"""Every role × every route × own village, a sibling village, another township.

The routes come from the application itself: a route that is not in the expectations
below fails the test, and so does a route without a declared permission (the route class
refuses to build it). The expectations are written out by hand from the issue's table of
who may do what, not computed from the roles, so the test checks the implementation
against the intent.

Allowed means the access layer let the request through: whatever the endpoint then
answered (201, 200, or a 409/422 of its own). Denied means 403, or 404 where the
target's existence must not leak (or, for binding, a credential from another township
that is refused as if it did not exist).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import service as access
from jifen.access.guard import access_of
from jifen.access.permissions import Permission, ScopeKind
from jifen.api.routing import UnitOfWorkRoute, api_routes
from jifen.boards import service as boards
from jifen.charters import service as charters
from jifen.evidence import service as evidence
from jifen.evidence import storage as evidence_storage
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.ledger.policy import AccountKind
from jifen.main import create_app
from jifen.market import allied
from jifen.models import (
    NoticeList,
    NoticeListItem,
    NoticeObjection,
    OAuthClient,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from jifen.records import service as records
from jifen.spaces import service as spaces
from jifen.subsidies import service as subsidies
from tests.access import world as w
from tests.evidence.photos import photo as make_photo
from tests.factories import (
    account_of,
    award,
    clock,
    make_goods,
    make_household,
    make_member,
    make_organisation,
    make_sale,
)

_n = itertools.count(1)

ANY = {
    "whoami",
    "list_permissions",
    "list_townships",
    "list_rule_types",
    # The public keys that sign checkpoints: any authenticated caller may fetch them.
    "list_checkpoint_keys",
}
CLIENT_ROUTES = {
    "create_endpoint",
    "list_endpoints",
    "create_binding",
    "list_bindings",
    "get_binding",
    "create_claim",
    "get_bound_ranking",
    "get_bound_charter",
    "check_in_with_code",
    "get_bound_balances",
    "get_bound_history",
    "get_bound_expiring",
    "create_bound_objection",
    # The public display's boards and notice lists, read through a binding (boards:read).
    "list_bound_boards",
    "get_bound_board",
    "list_bound_notice_lists",
    "get_bound_notice_list",
    "delete_binding",
    "bound_catalog",
    "bound_redemptions",
    # An evidence photo of the bound member's own record.
    "get_bound_evidence_photo",
}
# The public display (公示栏) needs no credentials at all (tests/boards/test_public.py).
PUBLIC = {
    "issue_token",
    "list_public_boards",
    "get_public_board",
    "list_public_notice_lists",
    "get_public_notice_list",
    "check_public_chain",
}
# Reads of the township's own record and lists, open to anyone with tenancy:read in it
# (village staff included), with lists narrowed to what the caller may see.
TOWNSHIP_READS = {
    "get_township",
    "list_villages",
    "list_organisations",
    "get_organisation",
    "list_wage_rates",
    "list_subsidy_schemes",
}
VILLAGE_READS = {
    "get_village",
    "list_households",
    "get_household",
    "get_household_members",
    "list_members",
    "search_members",
    "get_member",
    "get_memberships",
    "list_accounts",
    "get_account",
    "get_balance",
    "get_balance_as_of",
    "get_member_balances",
    "get_household_balances",
    "get_statement",
    "list_entries",
    "get_entry",
    "list_charter_versions",
    "get_charter_in_force",
    "get_charter_version",
    "list_records",
    "get_record",
    "get_ranking",
    "get_member_history",
    "get_household_history",
    "what_if_score",
    "what_if_replay",
    "list_projects",
    "get_project",
    "get_project_labor",
    "list_activities",
    "get_activity",
    "get_village_expiring",
    "get_member_expiring",
    "list_sales",
    "get_sale",
    "list_allied_sales",
    "list_contributions",
    "list_spaces",
    "get_space",
    "list_space_claims",
    "get_space_claim",
    # Boards (红黑榜) are read with rankings:read, as the rankings are.
    "list_boards",
    "get_board",
    "list_space_inspections",
    # An evidence photo cited by a record (here the place member's): entries:read.
    "get_evidence_photo",
}
READER = ANY | TOWNSHIP_READS | VILLAGE_READS
# Public notice (公示): notice:read is every built-in staff role's (the matrix's own
# group-leader and supervision roles do not have it); the clerk and administrators record
# objections; only the role the list's charter setting names (here village_clerk) decides.
NOTICE_READS = {"list_notice_lists", "get_notice_list"}
NOTICE_OBJECTS = {"create_objection"}
NOTICE_DECISIONS = {"decide_notice_objection"}
# The supermarket: catalog:read is every built-in staff role's (the matrix's own
# group-leader and supervision roles do not have it); catalog:write and stock:write the
# clerk's; the till's work the cashier's.
CATALOG_READS = {
    "list_goods",
    "get_goods",
    "goods_prices",
    "list_stock_movements",
    "list_allied_shops",
    "get_allied_shop",
}
CATALOG_WRITES = {
    "create_goods",
    "update_goods",
    "create_allied_shop",
    "update_allied_shop",
    "deactivate_allied_shop",
}
STOCK_WRITES = {"create_stock_movement"}
TILL = {"create_sale", "create_refund", "till_member", "till_day", "create_allied_sale"}
# books:read: the fund's reconciliation, the reports, allied-shop statements.
BOOKS_REPORTS = {
    "get_reconciliation",
    "get_reconciliation_chart",
    "get_goods_report",
    "get_movers_report",
    "get_most_redeemed_report",
    "get_member_redemptions",
    "list_allied_settlements",
    "get_allied_settlement",
    "get_participation",
}
# Township finance's: make a statement (finance:settle), pay it (funds:write), download
# it (finance:export).
SETTLEMENTS = {
    "create_allied_settlement",
    "pay_allied_settlement",
    "export_allied_settlement",
    # 以奖代补: finance:settle sets the wage rate and schemes, drafts and approves;
    # finance:export downloads.
    "create_wage_rate",
    "create_subsidy_scheme",
    "create_subsidy_settlement",
    "approve_subsidy_settlement",
    "export_subsidy_settlement",
    # Withholding: finance:settle releases a withheld award; projects:accept (held by
    # township finance and administrators, the same people) records a project's 验收.
    "release_withheld_subsidy",
    "accept_project",
    # What-if under another scheme (nothing stored): finance:settle, as drafting is.
    "what_if_subsidy_settlement",
}
# books:read over the whole township (a settlement covers every village in it).
TOWNSHIP_BOOKS = {"get_subsidy_settlement"}
MEMBER_WRITES = {
    "create_household",
    "split_household",
    "create_member",
    "update_member",
    "move_member",
    "leave_household",
    "deactivate_member",
    # Adopted spaces (认领): the registry and the claims, as tenancy writes are.
    "create_space",
    "update_space",
    "create_space_claim",
    "end_space_claim",
    "transfer_space_claim",
}
AWARDING = {"create_entry", "create_entry_batch", "post_entry", "void_entry"}
ACCESS_ADMIN = {
    "create_user",
    "list_users",
    "get_user",
    "update_user",
    "create_grant",
    "list_grants",
    "delete_grant",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    "list_roles",
    "create_role",
    "get_role",
    "update_role",
}
CLIENT_ADMIN = {
    "register_client",
    "list_clients",
    "get_client",
    "revoke_client",
    "rotate_client_secret",
}
WEBHOOKS_OF_A_CLIENT = {
    "rotate_endpoint_secret",
    "get_endpoint",
    "update_endpoint",
    "list_deliveries",
    "get_delivery",
    "redeliver",
}
WEBHOOKS_ADMIN = WEBHOOKS_OF_A_CLIENT | {"list_client_endpoints"}
CLIENT_WEBHOOKS = WEBHOOKS_OF_A_CLIENT | {"create_endpoint", "list_endpoints"}
# Seeing a member's card is seeing a credential: the same as issuing one.
BINDING_ISSUE = {
    "issue_binding_code",
    "issue_card",
    "get_card",
    "get_card_qr_code",
    "get_card_sheet",
}
CHARTER_WORK = {
    "create_charter_version",
    "publish_charter_version",
    "create_record",
    "create_record_batch",
    # A clerk's sheet (CSV/XLSX) and the dry runs of a sheet and of a batch.
    "create_record_sheet",
    "preview_record_sheet",
    "preview_record_batch",
    "review_record",
    # The recorder or a reviewer within the charter's window (the revoking role after it).
    "amend_record",
    "create_project",
    "create_activity",
    "close_activity",
    "get_check_in_code",
    "get_qr_code",
    "check_in_member",
    # What residents put into a project: recorded by whoever runs it (activities:manage).
    "create_contribution",
    "create_project_score",
    "create_project_meeting",
    # Inspections of adopted spaces are records under the charter (records:create).
    "create_space_inspection",
    # Evidence photos are uploaded by whoever records (records:create).
    "create_evidence_photo",
    "list_inspections_due",
}

# boards:write: the clerk's and the administrators'.
BOARD_WRITES = {
    "create_board",
    "create_board_entries",
    "upload_board_entries",
    "generate_board_entries",
    "publish_board",
}

CLERK_A = (
    READER
    | MEMBER_WRITES
    | AWARDING
    | ACCESS_ADMIN
    | BINDING_ISSUE
    | CHARTER_WORK
    | CATALOG_READS
    | CATALOG_WRITES
    | STOCK_WRITES
    | BOOKS_REPORTS
    | NOTICE_READS
    | NOTICE_OBJECTS
    | NOTICE_DECISIONS
    | BOARD_WRITES
    | {"open_account", "reverse_entry", "get_trial_balance"}
)
VILLAGE_ROLE_ELSEWHERE = ANY | TOWNSHIP_READS  # a sibling village of the same township
TOWNSHIP_ADMIN = (
    READER
    | MEMBER_WRITES
    | AWARDING
    | ACCESS_ADMIN
    | BINDING_ISSUE
    | CLIENT_ADMIN
    | WEBHOOKS_ADMIN
    | CHARTER_WORK
    | CATALOG_READS
    | CATALOG_WRITES
    | STOCK_WRITES
    | TILL
    | BOOKS_REPORTS
    | SETTLEMENTS
    | TOWNSHIP_BOOKS
    | NOTICE_READS
    | NOTICE_OBJECTS
    | BOARD_WRITES
    | {
        "revoke_record",
        "update_township",
        "create_village",
        "update_village",
        "create_organisation",
        "open_account",
        "reverse_entry",
        "get_trial_balance",
        "verify_books",
        "list_village_checkpoints",
        "get_township_checkpoints",
        "list_audit_events",
    }
)
OTHER_TOWNSHIP = ANY
# books:verify: a village's signed checkpoints, and the latest of a township's villages.
SIGNED_HEADS = {"list_village_checkpoints", "get_township_checkpoints"}

EXPECTED: dict[str, dict[str, set[str]]] = {
    "township_admin": {"A": TOWNSHIP_ADMIN, "B": TOWNSHIP_ADMIN, "C": OTHER_TOWNSHIP},
    "township_finance": {
        "A": READER
        | CATALOG_READS
        | BOOKS_REPORTS
        | SETTLEMENTS
        | TOWNSHIP_BOOKS
        | NOTICE_READS
        | {"get_trial_balance"},
        "B": READER
        | CATALOG_READS
        | BOOKS_REPORTS
        | SETTLEMENTS
        | TOWNSHIP_BOOKS
        | NOTICE_READS
        | {"get_trial_balance"},
        "C": OTHER_TOWNSHIP,
    },
    "auditor": {
        "A": READER
        | CATALOG_READS
        | BOOKS_REPORTS
        | TOWNSHIP_BOOKS
        | NOTICE_READS
        | {"get_trial_balance", "verify_books", "list_audit_events"}
        | SIGNED_HEADS,
        "B": READER
        | CATALOG_READS
        | BOOKS_REPORTS
        | TOWNSHIP_BOOKS
        | NOTICE_READS
        | {"get_trial_balance", "verify_books", "list_audit_events"}
        | SIGNED_HEADS,
        "C": OTHER_TOWNSHIP,
    },
    "village_clerk": {"A": CLERK_A, "B": VILLAGE_ROLE_ELSEWHERE, "C": OTHER_TOWNSHIP},
    "supermarket_cashier": {
        "A": READER | CATALOG_READS | STOCK_WRITES | TILL | NOTICE_READS,
        "B": VILLAGE_ROLE_ELSEWHERE,
        "C": OTHER_TOWNSHIP,
    },
    "group_leader": {"A": READER | AWARDING, "B": VILLAGE_ROLE_ELSEWHERE, "C": OTHER_TOWNSHIP},
    "supervision": {
        # A village's checkpoints, as verify_books; a township's list is not theirs.
        "A": READER
        | BOOKS_REPORTS
        | {"get_trial_balance", "verify_books", "list_audit_events", "list_village_checkpoints"},
        "B": VILLAGE_ROLE_ELSEWHERE,
        "C": OTHER_TOWNSHIP,
    },
    # Only what concerns their own household: the targets in A are the resident's own.
    "resident": {
        "A": ANY
        | {
            "get_household",
            "get_household_members",
            "get_member",
            "get_memberships",
            "list_accounts",
            "get_account",
            "get_balance",
            "get_balance_as_of",
            "get_member_balances",
            "get_household_balances",
            "get_statement",
            "get_entry",
            "get_record",
            "get_evidence_photo",
            "get_member_history",
            "get_household_history",
            "get_member_expiring",
        },
        "B": ANY,
        "C": ANY,
    },
    # A third-party client of township T: its own bindings, in T only.
    "client": {
        "A": {"whoami", "list_permissions", "list_checkpoint_keys"}
        | CLIENT_ROUTES
        | CLIENT_WEBHOOKS,
        "B": {"whoami", "list_permissions", "list_checkpoint_keys"}
        | CLIENT_ROUTES
        | CLIENT_WEBHOOKS,
        "C": {
            "whoami",
            "list_permissions",
            "list_checkpoint_keys",
            "list_bindings",
            "create_endpoint",
            "list_endpoints",
        },
    },
}

# Roles held in one village: another village's records must not even be seen to exist
# (a denial must look the same as for a target that does not exist).
ONE_VILLAGE_ROLES = {
    "village_clerk",
    "supermarket_cashier",
    "group_leader",
    "supervision",
    "resident",
    "client",
}
VILLAGE_LEVEL_TARGETS = {
    "village_id",
    "version_id",
    "record_id",
    "project_id",
    "activity_id",
    "household_id",
    "member_id",
    "account_id",
    "entry_id",
    "user_id",
    "key_id",
    "role_id",
    "binding_id",
    "goods_id",
    "sale_id",
    "shop_id",
    "settlement_id",
    "space_id",
    "space_claim_id",
    "board_id",
    "notice_list_id",
    "notice_objection_id",
    "evidence_photo_id",
}

# Query parameters naming the list's parent, by route.
QUERY_TARGET = {
    "list_accounts": "member_id",
    "list_villages": "township_id",
    "list_organisations": "township_id",
    "list_clients": "township_id",
    "list_households": "village_id",
    "list_members": "village_id",
    "list_entries": "village_id",
    "list_users": "village_id",
    "list_roles": "village_id",
    "list_audit_events": "village_id",
    "list_spaces": "village_id",
    "list_boards": "village_id",
}
MATRIX_CHARTER = {
    "title": "矩阵村规",
    "effective_on": "2026-01-01",
    "settings": {
        "review": {
            "stages": [{"id": "final_review", "label": "复核", "roles": ["village_clerk"]}],
            "required": {"resident": ["final_review"]},
        }
    },
    "rules": [
        {
            "id": "matrix_labor",
            "category": "labor",
            "label": "义务劳动",
            "type": "fixed",
            "params": {"points": 1},
            "recorders": ["village_clerk", "resident", "check_in"],
            "allow_repeats": True,
        }
    ],
}
_YESTERDAY = datetime.now(UTC) - timedelta(days=1)
# Path parameters that stay the place's own (the resident's records in A); all others
# are made fresh for each request, so that writes never disturb the next request.
STABLE = {"township_id", "village_id", "account_id", "organisation_id"}
STABLE_FOR_READS = STABLE | {"household_id", "member_id", "entry_id", "record_id"}


def _routes() -> dict[str, APIRoute]:
    app = create_app()
    every = api_routes(app)
    plain = {r.name for r in every if not isinstance(r, UnitOfWorkRoute)}
    # Only the health checks are served outside UnitOfWorkRoute (and its access guard).
    assert plain == {"healthz", "readyz"}
    routes = {r.name: r for r in every if isinstance(r, UnitOfWorkRoute)}
    assert len(routes) == len([r for r in every if isinstance(r, UnitOfWorkRoute)])  # unique
    assert len(routes) > 60
    return routes


def test_every_route_declares_access_and_has_expectations() -> None:
    routes = _routes()
    for name, route in routes.items():
        assert access_of(route.endpoint) is not None, name
    known = set().union(*(place for role in EXPECTED.values() for place in role.values()))
    # create_township is the platform administrators' alone (see test_flows).
    unnamed = set(routes) - PUBLIC - known - {"create_township"}
    assert not unnamed, f"routes without expectations: {sorted(unnamed)}"


class Fresh:
    """Makes throwaway targets in a place, through the services."""

    def __init__(self, world: w.World) -> None:
        self.world = world

    def ids(self, place_name: str, route: APIRoute, write: bool) -> dict[str, str]:
        place = self.world.places[place_name]
        ids = dict(place.ids)
        stable = STABLE if write else STABLE_FOR_READS
        wanted = set(route.param_convertors) - stable
        with self.world.db.unit_of_work() as session:
            village, township = place.village, place.township
            if "household_id" in wanted:
                ids["household_id"] = str(make_household(session, village).id)
            if "member_id" in wanted or "entry_id" in wanted:
                household = make_household(session, village)
                member = make_member(session, village, household_id=household.id)
                ids["member_id"] = str(member.id)
                account = account_of(session, village, AccountKind.MEMBER, member.id)
                ids["entry_id"] = str(
                    award(session, self.world.settings, village, account, 3).entry.id
                )
            role = access.create_role(
                session,
                caller=None,
                township_id=township.id,
                village_id=village.id,
                code=f"matrix_{next(_n)}",
                label="临时角色",
                scope_kind=ScopeKind.VILLAGE,
                permissions=[Permission.TENANCY_READ],
                now=utc_now(),
            )
            ids["role_id"] = str(role.id)
            user = access.create_user(
                session,
                name="临时用户",
                township_id=township.id,
                village_id=village.id,
                created_by="test",
                now=utc_now(),
            )
            ids["user_id"] = str(user.id)
            grant = access.grant_role(
                session,
                caller=None,
                user_id=user.id,
                role_id=role.id,
                village_id=village.id,
                created_by="test",
                now=utc_now(),
            )
            ids["grant_id"] = str(grant.id)
            key, _ = access.create_api_key(
                session, user_id=user.id, name="k", created_by="test", now=utc_now()
            )
            ids["key_id"] = str(key.id)
            client, _ = access.register_client(
                session,
                township_id=township.id,
                name="临时应用",
                scopes=[],
                created_by="test",
                now=utc_now(),
            )
            ids["client_id"] = str(client.client.principal_id)
            _credential, code = access.issue_member_credential(
                session,
                member_id=uuid.UUID(ids["member_id"]),
                kind="code",
                ttl_seconds=600,
                created_by="test",
                now=utc_now(),
            )
            ids["code"] = code
        if {"goods_id", "sale_id"} & wanted or route.name in NEEDS_GOODS:
            ids.update(_market_ids(self.world, place_name))
        if {"shop_id", "settlement_id"} & wanted or route.name == "create_allied_shop":
            ids.update(_allied_ids(self.world, place_name))
        if {"version_id", "record_id"} & wanted:
            ids.update(_charter_ids(self.world, place_name))
        if {"project_id", "activity_id"} & wanted or route.name == "check_in_with_code":
            ids.update(_labor_ids(self.world, place_name))
        if {"space_id", "space_claim_id"} & wanted:
            ids.update(_space_ids(self.world, place_name))
        if "evidence_photo_id" in wanted:
            ids.update(_evidence_ids(self.world, place_name))
        if "board_id" in wanted:
            ids.update(_board_ids(self.world, place_name, published=route.name in PUBLISHED))
        if {"notice_list_id", "notice_objection_id"} & wanted or route.name in NEEDS_NOTICE:
            ids.update(_notice_ids(self.world, place_name))
        if "subsidy_settlement_id" in wanted:
            ids.update(_subsidy_ids(self.world, place_name))
        if {"endpoint_id", "delivery_id"} & wanted:
            ids.update(_webhook_ids(self.world, place_name))
        if "binding_id" in wanted:
            letter = "T2" if place_name == "C" else "T"
            ids["binding_id"] = w.bind(self.world, letter, place_name)
        ids["issuance_id"] = place.ids["issuance_id"]
        return ids


def _charter_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A draft charter version (publishable: it takes effect later than any other), and a
    resident's pending record about the place's member."""
    place = world.places[place_name]
    with world.db.unit_of_work() as session:
        draft = charters.create_version(
            session,
            village_id=place.village.id,
            data={**MATRIX_CHARTER, "effective_on": str(date(2030, 1, 1) + timedelta(next(_n)))},
            actor="test",
            now=utc_now(),
        )
        pending = records.record(
            session,
            records.RecordRequest(
                village_id=place.village.id,
                rule_id="matrix_labor",
                member_id=uuid.UUID(place.ids["member_id"]),
                household_id=None,
                quantity=Decimal(1),
                occurred_at=_YESTERDAY,
            ),
            recorder=records.Recorder("test", frozenset({"resident"})),
            clock=clock(world.settings),
        )
    return {"version_id": str(draft.id), "record_id": str(pending.id)}


NEEDS_GOODS = {"create_stock_movement", "create_sale"}
# Routes that require an Idempotency-Key header.
KEYED = {"create_sale", "create_refund", "create_allied_sale"}


def _market_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A good with stock, and a sale of it to a fresh member (who has points left)."""
    place = world.places[place_name]
    with world.db.unit_of_work() as session:
        goods = make_goods(session, world.settings, place.village, stock=5)
        member = make_member(session, place.village)
        sale = make_sale(session, world.settings, place.village, member, goods)
        award(
            session,
            world.settings,
            place.village,
            account_of(session, place.village, AccountKind.MEMBER, member.id),
            50,
        )
    return {"goods_id": str(goods.id), "sale_id": str(sale.id), "buyer_id": str(member.id)}


def _allied_ids(world: w.World, place_name: str) -> dict[str, str]:
    """An allied shop with a member's redemption of yesterday on a statement, another
    redemption not on one, and an organisation that is no shop yet."""
    place = world.places[place_name]
    yesterday = clock(world.settings, utc_now() - timedelta(days=1))
    with world.db.unit_of_work() as session:
        shop = allied.register_shop(
            session,
            village_id=place.village.id,
            organisation_id=make_organisation(session, place.township.id).id,
            points_per_yuan=10,
            clock=yesterday,
        )
        member = make_member(session, place.village)
        award(
            session,
            world.settings,
            place.village,
            account_of(session, place.village, AccountKind.MEMBER, member.id),
            50,
        )
        for when in (yesterday, clock(world.settings)):
            allied.redeem(
                session,
                shop_id=shop.id,
                member_id=member.id,
                card_token=None,
                points=5,
                cashier="test",
                clock=when,
                idempotency_key=None,
            )
        day = yesterday.local_date(yesterday.now)
        settlement = allied.settle(
            session,
            shop_id=shop.id,
            period_start=day,
            period_end=day,
            actor="test",
            clock=clock(world.settings),
        )
        newcomer = make_organisation(session, place.township.id)
    return {
        "shop_id": str(shop.id),
        "settlement_id": str(settlement.id),
        "allied_buyer_id": str(member.id),
        "new_organisation_id": str(newcomer.id),
    }


def _labor_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A project, and an activity open for check-in now, with its code."""
    place = world.places[place_name]
    now = utc_now()
    with world.db.unit_of_work() as session:
        project = labor.create_project(
            session,
            village_id=place.village.id,
            code=f"p{next(_n)}",
            name="矩阵项目",
            description="",
            starts_on=None,
            ends_on=None,
            actor="test",
            now=now,
        )
        activity = labor.create_activity(
            session,
            village_id=place.village.id,
            rule_id="matrix_labor",
            title="周六清扫",
            place="村口",
            starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=2),
            quantity=Decimal(1),
            project_id=project.id,
            actor="test",
            clock=clock(world.settings),
        )
        code = labor.check_in_code(session, activity_id=activity.id, now=now)
    return {
        "project_id": str(project.id),
        "activity_id": str(activity.id),
        "check_in_code": code.token,
    }


# Routes that read only published boards (a binding sees what the public display shows).
PUBLISHED = {"get_bound_board"}


def _board_ids(world: w.World, place_name: str, *, published: bool = False) -> dict[str, str]:
    """A draft board of the place's village (no rules: publishing it books nothing), or
    a published one."""
    place = world.places[place_name]
    with world.db.unit_of_work() as session:
        board = boards.create_board(
            session,
            village_id=place.village.id,
            title=f"矩阵榜 {next(_n)}",
            kind=boards.RED_BLACK,
            source=boards.EVALUATION,
            period_start_on=date(2026, 1, 1),
            period_end_on=date(2026, 1, 31),
            red_rule_id=None,
            black_rule_id=None,
            actor="test",
            now=utc_now(),
        )
        if published:
            boards.publish(
                session,
                board_id=board.id,
                recorder=records.Recorder("test", frozenset({"village_clerk"})),
                clock=clock(world.settings),
            )
    return {"board_id": str(board.id)}


def _evidence_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A photo of the place's village, cited by the place member's record."""
    place = world.places[place_name]
    n = next(_n)
    with world.db.unit_of_work() as session:
        photo = evidence.upload(
            session,
            evidence_storage.from_settings(world.settings),
            village_id=place.village.id,
            township_id=place.township.id,
            data=make_photo(colour=(n % 256, n // 256 % 256, 77)),
            bytes_max=world.settings.evidence_photo_bytes_max,
            pixels_max=world.settings.evidence_photo_pixels_max,
            actor="test",
            now=utc_now(),
        )
        evidence.attach(
            session,
            [photo.id],
            record_id=uuid.UUID(place.ids["record_id"]),
            village_id=place.village.id,
            now=utc_now(),
        )
    return {"evidence_photo_id": str(photo.id)}


def _space_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A space of the place's village, with an open-ended claim by its member from 2026-01-01."""
    place = world.places[place_name]
    with world.db.unit_of_work() as session:
        space = spaces.create_space(
            session,
            village_id=place.village.id,
            name=f"矩阵绿地{next(_n)}",
            kind="green_space",
            area_hundredths_m2=10_000,
            location="村口",
            photo_url=None,
            allow_shared_care=False,
            now=utc_now(),
        )
        claim = spaces.claim(
            session,
            space_id=space.id,
            claimant=spaces.Claimant(member_id=uuid.UUID(place.ids["member_id"])),
            starts_on=date(2026, 1, 1),
            ends_on=None,
            note="",
            actor="test",
            now=utc_now(),
        )
    return {"space_id": str(space.id), "space_claim_id": str(claim.id)}


NEEDS_NOTICE = {"create_bound_objection"}


def _notice_ids(world: w.World, place_name: str) -> dict[str, str]:
    """An open `after` notice list of the place's village (decided by village_clerk) with
    two of the member's records on it, the first under an open objection."""
    place = world.places[place_name]
    now = utc_now()
    member_id = uuid.UUID(place.ids["member_id"])
    today = clock(world.settings).local_date(now)
    with world.db.unit_of_work() as session:
        booked = [
            records.record(
                session,
                records.RecordRequest(
                    village_id=place.village.id,
                    rule_id="matrix_labor",
                    member_id=member_id,
                    household_id=None,
                    quantity=Decimal(1),
                    occurred_at=_YESTERDAY,
                ),
                recorder=records.Recorder("test", frozenset({"village_clerk"})),
                clock=clock(world.settings),
            )
            for _ in range(2)
        ]
        notice_list = NoticeList(
            id=uuid.uuid4(),
            township_id=place.township.id,
            village_id=place.village.id,
            charter_version_id=booked[0].charter_version_id,
            list_index=next(_n),
            categories="all",
            mode="after",
            deciding_role="village_clerk",
            period_start_on=today.replace(day=1),
            period_end_on=today,
            opens_on=today - timedelta(days=1),
            closes_on=today + timedelta(days=6),
            appeal_until=today + timedelta(days=36),
            state="open",
            created_at=now,
            opened_at=now,
            closed_at=None,
            head_seq=None,
            head_hash=None,
        )
        session.add(notice_list)
        session.flush()
        items = []
        for record in booked:
            assert record.entry_id is not None
            item = NoticeListItem(
                id=uuid.uuid4(),
                list_id=notice_list.id,
                record_id=record.id,
                entry_id=record.entry_id,
                mode="after",
                posted_entry_id=None,
                created_at=now,
            )
            session.add(item)
            items.append(item)
        session.flush()
        objection = NoticeObjection(
            id=uuid.uuid4(),
            list_id=notice_list.id,
            item_id=items[0].id,
            entry_id=items[0].entry_id,
            kind="objection",
            raised_by=f"member:{member_id}",
            raised_on=today,
            reason="矩阵",
            recorded_by="test",
            state="open",
            decided_by_role=None,
            decided_by=None,
            decided_on=None,
            decision_reason=None,
            created_at=now,
        )
        session.add(objection)
    return {
        "notice_list_id": str(notice_list.id),
        "notice_objection_id": str(objection.id),
        "notice_entry_id": str(items[1].entry_id),
    }


# A subsidy scheme that awards nothing (pool 0), so approvals book nothing.
ZERO_SCHEME = {
    "title": "矩阵方案",
    "effective_on": "2020-01-01",
    "pool_fen": 0,
    "indicators": [
        {
            "id": "participation",
            "type": "household_share",
            "weight": 100,
            "normalise": {"method": "min_max"},
        }
    ],
    "award": {"method": "pool_split"},
}


def _subsidy_ids(world: w.World, place_name: str) -> dict[str, str]:
    """A draft settlement of a day of its own in the place's township."""
    place = world.places[place_name]
    day = date(2030, 1, 1) + timedelta(next(_n))
    with world.db.unit_of_work() as session:
        settlement = subsidies.draft(
            session, township_id=place.township.id, first=day, last=day, actor="test", now=utc_now()
        )
    return {"subsidy_settlement_id": str(settlement.id)}


def _webhook_ids(world: w.World, place_name: str) -> dict[str, str]:
    """An endpoint of the township's client, with one delivery."""
    place = world.places[place_name]
    client_id, _ = world.client_ids["T2" if place_name == "C" else "T"]
    with world.db.unit_of_work() as session:
        principal = session.execute(
            select(OAuthClient.principal_id).where(OAuthClient.client_id == client_id)
        ).scalar_one()
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            client_principal_id=principal,
            township_id=place.township.id,
            url="http://127.0.0.1:9/hook",
            events=["points.earned"],
            secret="whsec_" + "A" * 32,
            description="",
            created_at=utc_now(),
            disabled_at=None,
        )
        event = OutboxEvent(
            id=uuid.uuid4(),
            type="points.earned",
            township_id=place.township.id,
            village_id=place.village.id,
            member_id=None,
            household_id=None,
            payload={},
            created_at=utc_now(),
            dispatched_at=utc_now(),
        )
        session.add_all([endpoint, event])
        session.flush()
        found = WebhookDelivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            event_seq=event.seq,
            event_type="points.earned",
            ordering_key="x",
            body=b"{}",
            status="failed",
            attempts=8,
            next_attempt_at=None,
            created_at=utc_now(),
            delivered_at=None,
        )
        session.add(found)
    return {"endpoint_id": str(endpoint.id), "delivery_id": str(found.id)}


def _body(name: str, ids: dict[str, str]) -> dict[str, Any] | None:
    u = f"m{next(_n)}"
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "create_township": lambda: {"code": u, "name": "矩阵镇"},
        "create_village": lambda: {"township_id": ids["township_id"], "code": u, "name": "矩阵村"},
        "create_household": lambda: {"village_id": ids["village_id"], "number": u, "name": "户"},
        "create_member": lambda: {"village_id": ids["village_id"], "name": "村民"},
        "create_organisation": lambda: {
            "township_id": ids["township_id"],
            "name": "商家",
            "kind": "shop",
        },
        "open_account": lambda: {
            "village_id": ids["village_id"],
            "kind": "issuance",
            "asset": "POINTS",
            "category": u,
        },
        "create_entry": lambda: {
            "village_id": ids["village_id"],
            "code": "labor_award",
            "postings": [
                {"account_id": ids["issuance_id"], "amount": -1},
                {"account_id": ids["account_id"], "amount": 1},
            ],
        },
        "create_entry_batch": lambda: {
            "items": [
                {
                    "idempotency_key": u,
                    "code": "labor_award",
                    "postings": [
                        {"account_id": ids["issuance_id"], "amount": -1},
                        {"account_id": ids["account_id"], "amount": 1},
                    ],
                }
            ]
        },
        "create_user": lambda: {"village_id": ids["village_id"], "name": "新用户"},
        "create_role": lambda: {
            "township_id": ids["township_id"],
            "village_id": ids["village_id"],
            "code": u,
            "label": "新角色",
            "scope": "village",
            "permissions": ["tenancy:read"],
        },
        "register_client": lambda: {
            "township_id": ids["township_id"],
            "name": "应用",
            "scopes": ["members:read"],
        },
        "create_grant": lambda: {"role_id": ids["role_id"]},
        "create_api_key": lambda: {"name": "钥匙"},
        "reverse_entry": lambda: {"reason": "矩阵"},
        "void_entry": lambda: {"reason": "矩阵"},
        "create_binding": lambda: {"user_ref": u, "code": ids["code"]},
        "create_endpoint": lambda: {
            "url": "https://hooks.example.cn/jifen",
            "events": ["points.earned"],
        },
        "create_charter_version": lambda: {
            **MATRIX_CHARTER,
            "effective_on": str(date(2030, 1, 1) + timedelta(next(_n))),
        },
        "create_record": lambda: {
            "rule_id": "matrix_labor",
            "member_id": ids["member_id"],
            "occurred_at": _YESTERDAY.isoformat(),
        },
        "create_record_batch": lambda: {
            "items": [
                {
                    "idempotency_key": u,
                    "rule_id": "matrix_labor",
                    "member_id": ids["member_id"],
                    "occurred_at": _YESTERDAY.isoformat(),
                    "occurrence": u,
                }
            ]
        },
        "preview_record_batch": lambda: {
            "items": [
                {
                    "idempotency_key": u,
                    "rule_id": "matrix_labor",
                    "member_id": ids["member_id"],
                    "occurred_at": _YESTERDAY.isoformat(),
                }
            ]
        },
        "review_record": lambda: {"decision": "approve"},
        "what_if_score": lambda: {"rule_id": "matrix_labor", "quantity": "1"},
        "create_project": lambda: {"code": u, "name": "矩阵项目"},
        "create_activity": lambda: {
            "rule_id": "matrix_labor",
            "title": "植树",
            "place": "后山",
            "starts_at": (utc_now() + timedelta(hours=1)).isoformat(),
            "ends_at": (utc_now() + timedelta(hours=3)).isoformat(),
            "quantity": "1",
        },
        "check_in_member": lambda: {"member_id": ids["member_id"]},
        "check_in_with_code": lambda: {"code": ids["check_in_code"]},
        "what_if_replay": lambda: {"from": "2026-01-01", "to": "2026-12-31"},
        "revoke_record": lambda: {"reason": "矩阵"},
        "amend_record": lambda: {"quantity": "2", "reason": "矩阵"},
        "create_claim": lambda: {"rule_id": "matrix_labor", "occurred_at": _YESTERDAY.isoformat()},
        "create_goods": lambda: {"name": "肥皂", "unit": "块", "price_points": 5},
        "update_goods": lambda: {"price_points": 6},
        "create_stock_movement": lambda: {
            "goods_id": ids["goods_id"],
            "kind": "adjustment",
            "quantity": 1,
            "reason": "count",
        },
        "create_sale": lambda: {
            "member_id": ids["buyer_id"],
            "lines": [{"goods_id": ids["goods_id"], "quantity": 1}],
        },
        "create_allied_shop": lambda: {
            "organisation_id": ids["new_organisation_id"],
            "points_per_yuan": 10,
        },
        "update_allied_shop": lambda: {"points_per_yuan": 5},
        "create_allied_sale": lambda: {"member_id": ids["allied_buyer_id"], "points": 1},
        "create_allied_settlement": lambda: {
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
        },
        "create_wage_rate": lambda: {
            "effective_on": str(date(2100, 1, 1) + timedelta(next(_n))),
            "fen_per_person_day": 12_000,
        },
        "create_subsidy_scheme": lambda: {
            **ZERO_SCHEME,
            "effective_on": str(date(2200, 1, 1) + timedelta(next(_n))),
        },
        "create_subsidy_settlement": lambda: {
            "period_start": str(day := date(2030, 1, 1) + timedelta(next(_n))),
            "period_end": str(day),
        },
        "what_if_subsidy_settlement": lambda: {
            "period_start": "2030-01-01",
            "period_end": "2030-01-01",
            "scheme": ZERO_SCHEME,
        },
        "accept_project": lambda: {
            "accepted_on": "2026-01-01",
            "accepted_by": "镇住建办",
            "outcome": "passed",
        },
        "release_withheld_subsidy": lambda: {"village_id": ids["village_id"]},
        "create_contribution": lambda: {
            "kind": "money",
            "amount_fen": 100,
            "contributed_on": "2026-01-01",
            "household_id": ids["household_id"],
        },
        "create_project_score": lambda: {
            "household_id": ids["household_id"],
            "score": 80,
            "scored_on": "2026-01-01",
        },
        "create_project_meeting": lambda: {
            "held_on": "2026-01-01",
            "topic": "共谋",
            "household_ids": [ids["household_id"]],
        },
        "create_space": lambda: {
            "village_id": ids["village_id"],
            "name": u,
            "kind": "facility",
            "area_m2": "12.5",
            "location": "村委会",
        },
        "update_space": lambda: {"location": "村委会西侧"},
        "create_space_claim": lambda: {
            "member_id": ids["member_id"],
            "starts_on": "2025-01-01",
            "ends_on": "2025-12-31",
        },
        "end_space_claim": lambda: {"ends_on": "2026-03-01"},
        "create_space_inspection": lambda: {
            "outcome": "passed",
            "inspected_at": "2026-03-02T09:00:00+08:00",
        },
        "transfer_space_claim": lambda: {"member_id": ids["member_id"], "starts_on": "2026-06-01"},
        "create_board": lambda: {
            "village_id": ids["village_id"],
            "title": f"矩阵榜 {next(_n)}",
            "period_start_on": "2026-01-01",
            "period_end_on": "2026-01-31",
        },
        "create_board_entries": lambda: {
            "entries": [
                {
                    "holder_kind": "member",
                    "holder_id": ids["member_id"],
                    "side": "red",
                    "reason": "矩阵",
                }
            ]
        },
        "generate_board_entries": lambda: {"category": "labor", "red_count": 1, "black_count": 0},
        "create_objection": lambda: {
            "entry_id": ids["notice_entry_id"],
            "raised_by_member_id": ids["member_id"],
            "reason": "矩阵",
        },
        "decide_notice_objection": lambda: {"upheld": False, "reason": "矩阵"},
        "create_bound_objection": lambda: {
            "notice_list_id": ids["notice_list_id"],
            "entry_id": ids["notice_entry_id"],
            "reason": "矩阵",
        },
    }
    maker = bodies.get(name)
    return maker() if maker else None


def _is_denied(response: Any) -> bool:
    if response.status_code in (403, 404):
        return True
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code == 200 and is_json and "atomic" in (body := response.json()):
        # A batch answers 200 and refuses item by item.
        return all(item["status"] in (403, 404) for item in body["items"])
    if response.status_code == 422:
        return bool(response.json().get("code") == "credential_rejected")
    return False


@pytest.fixture
def world(db, settings) -> w.World:  # type: ignore[no-untyped-def]
    built = w.build(db, settings)
    with db.unit_of_work() as session:
        for place in built.places.values():
            issuance = account_of(session, place.village, AccountKind.ISSUANCE)
            place.ids["issuance_id"] = str(issuance.id)
            charters.create_version(
                session,
                village_id=place.village.id,
                data=MATRIX_CHARTER,
                actor="test",
                now=utc_now(),
                publish=True,
            )
        for township_id in {place.township.id for place in built.places.values()}:
            subsidies.create_scheme_version(
                session, township_id=township_id, data=ZERO_SCHEME, actor="test", now=utc_now()
            )
    for name in built.places:
        # The record reads aim at: the resident's own in A.
        built.places[name].ids["record_id"] = _charter_ids(built, name)["record_id"]
    return built


def _token(http: TestClient, world: w.World) -> str:
    client_id, secret = world.client_ids["T"]
    answer = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_matrix(world: w.World, settings, db) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, db)
    routes = _routes()
    fresh = Fresh(world)
    mismatches: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as http:
        credentials = dict(world.keys)
        credentials["client"] = _token(http, world)
        for role, places in EXPECTED.items():
            headers = {"Authorization": f"Bearer {credentials[role]}"}
            for place_name, allowed in places.items():
                for name, route in sorted(routes.items()):
                    if name in PUBLIC:
                        continue
                    method = sorted(route.methods or {"GET"})[0]
                    write = method != "GET"
                    ids = fresh.ids(place_name, route, write)
                    path = route.path_format.format(**ids)
                    params: dict[str, str] = {}
                    if name in QUERY_TARGET:
                        params[QUERY_TARGET[name]] = ids[QUERY_TARGET[name]]
                    if name == "get_balance_as_of":
                        params["at"] = datetime.now(UTC).isoformat()
                    if name == "till_member":
                        params["member_id"] = ids["member_id"]
                    request_headers = dict(headers)
                    if name in KEYED:
                        request_headers["Idempotency-Key"] = f"matrix-{next(_n)}"
                    body = _body(name, ids)
                    if body is None and write and method != "DELETE":
                        body = {}
                    response = http.request(
                        method, path, params=params, json=body, headers=request_headers
                    )
                    assert response.status_code not in (401, 500), (role, name, response.text)
                    denied = _is_denied(response)
                    targets = set(route.param_convertors)
                    must_hide = targets and (
                        place_name == "C"
                        or (
                            place_name == "B"
                            and role in ONE_VILLAGE_ROLES
                            and targets & VILLAGE_LEVEL_TARGETS
                        )
                    )
                    if denied and must_hide:
                        # Indistinguishable from a target that does not exist.
                        ghost = route.path_format.format(
                            **{**ids, **{p: str(uuid.uuid4()) for p in targets}}
                        )
                        twin = http.request(
                            method, ghost, params=params, json=body, headers=request_headers
                        )
                        seen = (response.status_code, response.json().get("code"))
                        unseen = (twin.status_code, twin.json().get("code"))
                        if seen != unseen:
                            mismatches.append(
                                f"{role} {place_name} {name}: existence leaks: {seen} for "
                                f"a real target, {unseen} for none"
                            )
                    if denied == (name in allowed):
                        mismatches.append(
                            f"{role} {place_name} {name}: expected "
                            f"{'allow' if name in allowed else 'deny'}, got "
                            f"{response.status_code} {response.text[:160]}"
                        )
    assert not mismatches, "\n".join(mismatches)


def test_every_route_but_the_token_endpoint_needs_credentials(client: TestClient) -> None:
    routes = _routes()
    for route in routes.values():
        if route.name in PUBLIC:
            continue
        path = route.path_format.format(**{p: str(uuid.uuid4()) for p in route.param_convertors})
        for method in route.methods or ():
            response = client.request(method, path, headers={"Authorization": ""})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")
