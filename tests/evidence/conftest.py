"""Fixtures: the access tests' world (villages A and B of township T, C of T2) under a
charter whose labour rule wants a photo, with a clerk in B as well as in A, a second
member in A, and a client of T with bindings of A's resident and of that second member."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from jifen.access import service as access
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.main import create_app
from tests.access import world as w
from tests.factories import make_household, make_member

CHARTER = {
    "title": "证据照片村规",
    "effective_on": "2026-01-01",
    "settings": {
        "review": {
            "stages": [{"id": "final_review", "label": "复核", "roles": ["village_clerk"]}],
            "required": {"resident": ["final_review"]},
        }
    },
    "rules": [
        {
            "id": "clean_up",
            "category": "labor",
            "label": "清扫",
            "type": "fixed",
            "params": {"points": 2},
            "recorders": ["village_clerk", "resident"],
            "evidence": ["photo"],
            "allow_repeats": True,
        }
    ],
}


@dataclass
class Village_:
    world: w.World
    http: TestClient
    clerk_a: dict[str, str]
    clerk_a2: dict[str, str]
    clerk_b: dict[str, str]
    resident: dict[str, str]
    client: dict[str, str]
    member_a: str  # the resident's own member
    other_member_a: str  # another member of A, with a household of their own
    member_b: str
    binding_own: str  # the resident's binding
    binding_other: str  # the other member's binding

    def village(self, place: str) -> str:
        return self.world.places[place].ids["village_id"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def v(db: Database, settings: Settings) -> Iterator[Village_]:
    world = w.build(db, settings)
    with db.unit_of_work() as session:
        for place in world.places.values():
            charters.create_version(
                session,
                village_id=place.village.id,
                data=CHARTER,
                actor="test",
                now=utc_now(),
                publish=True,
            )
        roles = {
            r.code: r.id for r in access.list_roles(session, township_id=None, village_id=None)
        }
        a, b = world.places["A"], world.places["B"]
        clerk_b = w._user(session, "B村干部", b.township, b.village, roles["village_clerk"])
        clerk_a2 = w._user(session, "A村主任", a.township, a.village, roles["village_clerk"])
        household = make_household(session, a.village)
        other = make_member(session, a.village, household_id=household.id)
    world.places["A"].ids["other_member_id"] = str(other.id)
    binding_own = w.bind(world, "T", "A")
    # w.bind binds the place's member: bind the other member through a place of its own.
    world.places["A2"] = w.Place(a.township, a.village, {**a.ids, "member_id": str(other.id)})
    binding_other = w.bind(world, "T", "A2")
    del world.places["A2"]
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as http:
        client_id, secret = world.client_ids["T"]
        token = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert token.status_code == 200, token.text
        yield Village_(
            world=world,
            http=http,
            clerk_a=_bearer(world.keys["village_clerk"]),
            clerk_a2=_bearer(clerk_a2),
            clerk_b=_bearer(clerk_b),
            resident=_bearer(world.keys["resident"]),
            client=_bearer(token.json()["access_token"]),
            member_a=a.ids["member_id"],
            other_member_a=str(other.id),
            member_b=b.ids["member_id"],
            binding_own=binding_own,
            binding_other=binding_other,
        )


def new_id() -> str:
    return str(uuid.uuid4())
