"""A small world of two townships for the access tests, built through the services.

Township T has villages A and B; township T2 has village C. Village A has a resident
(a member with a user of their own), staff of every built-in role, two roles of its own
(组长, 村务监督委员会), and a third-party client of T with a member bound to it.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.permissions import ClientScope, Permission, ScopeKind
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger.policy import AccountKind
from jifen.models import Township, Village
from tests.factories import (
    account_of,
    award,
    make_household,
    make_member,
    make_organisation,
    make_township,
    make_village,
)

_n = itertools.count(1)

GROUP_LEADER = frozenset(
    {
        Permission.TENANCY_READ,
        Permission.BALANCES_READ,
        Permission.ENTRIES_READ,
        Permission.POINTS_AWARD,
        Permission.CHARTERS_READ,
        Permission.RANKINGS_READ,
    }
)
SUPERVISION = frozenset(
    {
        Permission.TENANCY_READ,
        Permission.BALANCES_READ,
        Permission.ENTRIES_READ,
        Permission.BOOKS_READ,
        Permission.BOOKS_VERIFY,
        Permission.AUDIT_READ,
        Permission.CHARTERS_READ,
        Permission.RANKINGS_READ,
    }
)


@dataclass
class Place:
    """The ids of one village and its township that the requests aim at."""

    township: Township
    village: Village
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    db: Database
    settings: Settings
    places: dict[str, Place]
    keys: dict[str, str]  # role name -> API key (or client secret for "client")
    client_ids: dict[str, tuple[str, str]]  # township letter -> (client_id, secret)
    resident_member: uuid.UUID


def _user(
    session: Session,
    name: str,
    township: Township | None,
    village: Village | None,
    role_id: uuid.UUID,
    member_id: uuid.UUID | None = None,
) -> str:
    now = utc_now()
    user = access.create_user(
        session,
        name=name,
        township_id=township.id if township else None,
        village_id=village.id if village else None,
        member_id=member_id,
        created_by="test",
        now=now,
    )
    access.grant_role(
        session,
        caller=None,
        user_id=user.id,
        role_id=role_id,
        village_id=village.id if village else None,
        created_by="test",
        now=now,
    )
    _key, token = access.create_api_key(
        session, user_id=user.id, name=name, created_by="test", now=now
    )
    return token


def _role(session: Session, township: Township, village: Village, code: str, perms) -> uuid.UUID:  # type: ignore[no-untyped-def]
    return access.create_role(
        session,
        caller=None,
        township_id=township.id,
        village_id=village.id,
        code=f"{code}_{next(_n)}",
        label=code,
        scope_kind=ScopeKind.VILLAGE,
        permissions=perms,
        now=utc_now(),
    ).id


def _place(session: Session, settings: Settings, township: Township, village: Village) -> Place:
    household = make_household(session, village)
    member = make_member(session, village, household_id=household.id)
    account = account_of(session, village, AccountKind.MEMBER, member.id)
    entry = award(session, settings, village, account, 10)
    organisation = make_organisation(session, township.id)
    return Place(
        township,
        village,
        {
            "township_id": str(township.id),
            "village_id": str(village.id),
            "household_id": str(household.id),
            "member_id": str(member.id),
            "account_id": str(account.id),
            "entry_id": str(entry.entry.id),
            "organisation_id": str(organisation.id),
        },
    )


def build(db: Database, settings: Settings) -> World:
    with db.unit_of_work() as session:
        t = make_township(session)
        t2 = make_township(session)
        a = make_village(session, t)
        b = make_village(session, t)
        c = make_village(session, t2)
        places = {
            "A": _place(session, settings, t, a),
            "B": _place(session, settings, t, b),
            "C": _place(session, settings, t2, c),
        }
        role = {r.code: r.id for r in access.list_roles(session, township_id=None, village_id=None)}
        resident_member = uuid.UUID(places["A"].ids["member_id"])
        keys = {
            "township_admin": _user(session, "乡镇管理员", t, None, role["township_admin"]),
            "township_finance": _user(session, "乡镇财政", t, None, role["township_finance"]),
            "auditor": _user(session, "纪检", t, None, role["auditor"]),
            "village_clerk": _user(session, "村干部", t, a, role["village_clerk"]),
            "supermarket_cashier": _user(session, "收银员", t, a, role["supermarket_cashier"]),
            "resident": _user(session, "村民", t, a, role["resident"], member_id=resident_member),
            "group_leader": _user(
                session, "组长", t, a, _role(session, t, a, "组长", GROUP_LEADER)
            ),
            "supervision": _user(
                session, "监委会", t, a, _role(session, t, a, "村务监督委员会", SUPERVISION)
            ),
        }
        client_ids = {}
        for letter, township in (("T", t), ("T2", t2)):
            view, secret = access.register_client(
                session,
                township_id=township.id,
                name=f"小程序{letter}",
                scopes=list(ClientScope),
                created_by="test",
                now=utc_now(),
            )
            client_ids[letter] = (view.client.client_id, secret)
    return World(db, settings, places, keys, client_ids, resident_member)


def bind(world: World, letter: str, place: str, user_ref: str | None = None) -> str:
    """Bind a user of township `letter`'s client to the place's member; the binding id."""
    client_id, _secret = world.client_ids[letter]
    member_id = uuid.UUID(world.places[place].ids["member_id"])
    with world.db.unit_of_work() as session:
        from sqlalchemy import select

        from jifen.models import OAuthClient

        client = session.execute(
            select(OAuthClient).where(OAuthClient.client_id == client_id)
        ).scalar_one()
        _credential, code = access.issue_member_credential(
            session,
            member_id=member_id,
            kind="code",
            ttl_seconds=600,
            created_by="test",
            now=utc_now(),
        )
        binding, _ = access.bind_member(
            session,
            client_principal_id=client.principal_id,
            township_id=client.township_id,
            user_ref=user_ref or f"openid-{next(_n)}",
            card_token=None,
            code=code,
            now=utc_now(),
        )
        return str(binding.id)
