"""Check-in: by a client scanning the activity's code for its bound member, or by a clerk
for a member without a phone. Each becomes a record under the charter."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.access import credentials
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.models import Record
from tests.api.helpers import Village, balance, make_village, ok, problem
from tests.labor.conftest import (
    MEETING,
    REVIEW_STAGE,
    RULES,
    FixedClock,
    MiniProgram,
    activity,
    count,
    entries,
    mini_program,
    publish_charter,
)


def _code(client: TestClient, activity_id: str) -> str:
    return str(ok(client.get(f"/v1/activities/{activity_id}/check-in-code"))["token"])


def _by_hand(client: TestClient, activity_id: str, member_id: str, **headers: str) -> Any:
    return client.post(
        f"/v1/activities/{activity_id}/check-ins", json={"member_id": member_id}, headers=headers
    )


def _start(clock: FixedClock, made: dict[str, Any]) -> None:
    clock.at(datetime.fromisoformat(made["starts_at"]))


def _recorder_role(db: Database, record_id: str) -> str:
    with db.unit_of_work(write=False) as session:
        row = session.get(Record, uuid.UUID(record_id))
        assert row is not None
        return row.recorder_role


def test_clerk_checks_a_member_in_and_the_charter_scores_it(
    client: TestClient, db: Database, village: Village, clock: FixedClock
) -> None:
    member_id, account_id = village.member()
    made = activity(client, village.id, clock, quantity="3")
    _start(clock, made)
    checked = ok(_by_hand(client, made["id"], member_id), 201)
    assert checked["status"] == "approved"
    assert checked["points"] == 6
    assert checked["explanation"] == "义务劳动 3 小时 × 2 分/小时 = 6 分"
    assert (checked["activity_id"], checked["member_id"]) == (made["id"], member_id)
    assert (checked["rule_id"], checked["quantity"], checked["charter_version"]) == (
        "labor_hours",
        "3",
        1,
    )
    assert datetime.fromisoformat(checked["occurred_at"]) == clock.now
    assert balance(client, account_id)["posted"] == 6
    with db.unit_of_work(write=False) as session:
        row = session.get(Record, uuid.UUID(checked["id"]))
        assert row is not None and row.recorder.startswith("user:")

    # Twice is refused by the records service: same member, rule and occurrence.
    problem(_by_hand(client, made["id"], member_id), 409, "duplicate_record")
    assert count(db) == 1
    assert balance(client, account_id)["posted"] == 6


def test_client_checks_its_bound_member_in_by_scanning_the_code(
    client: TestClient, db: Database, village: Village, clock: FixedClock, app: MiniProgram
) -> None:
    member_id, account_id = village.member()
    binding_id = app.bind(client, member_id, "openid-1")
    made = activity(client, village.id, clock, rule_id="meeting", quantity="1")
    code = _code(client, made["id"])
    _start(clock, made)
    checked = ok(app.check_in(client, binding_id, code), 201)
    assert (checked["status"], checked["points"]) == ("approved", 2)
    assert checked["explanation"] == "参加志愿活动 2 分"
    assert checked["member_id"] == member_id
    assert checked["activity_title"] == made["title"]
    assert _recorder_role(db, checked["id"]) == "check_in"
    assert balance(client, account_id)["posted"] == 2

    problem(app.check_in(client, binding_id, code), 409, "duplicate_record")
    assert count(db) == 1


def test_check_in_only_while_the_activity_is_open(
    client: TestClient, db: Database, village: Village, clock: FixedClock, app: MiniProgram
) -> None:
    early_bird, _ = village.member()
    late_comer, _ = village.member()
    binding_id = app.bind(client, late_comer, "openid-2")
    made = activity(client, village.id, clock)
    code = _code(client, made["id"])
    opens_at = datetime.fromisoformat(made["starts_at"]) - labor.CHECK_IN_EARLY

    clock.at(opens_at - timedelta(seconds=1))
    body = problem(_by_hand(client, made["id"], early_bird), 409, "activity_not_started")
    assert datetime.fromisoformat(body["opens_at"]) == opens_at
    problem(app.check_in(client, binding_id, code), 409, "activity_not_started")

    clock.at(opens_at)
    ok(_by_hand(client, made["id"], early_bird), 201)

    # After the end, within the code's grace: the activity ended (the code is fine).
    clock.at(datetime.fromisoformat(made["ends_at"]))
    problem(app.check_in(client, binding_id, code), 409, "activity_ended")
    problem(_by_hand(client, made["id"], late_comer), 409, "activity_ended")
    assert count(db) == 1


def test_no_check_in_after_the_activity_is_closed(
    client: TestClient, db: Database, village: Village, clock: FixedClock, app: MiniProgram
) -> None:
    member_id, _ = village.member()
    binding_id = app.bind(client, member_id, "openid-3")
    made = activity(client, village.id, clock)
    code = _code(client, made["id"])
    _start(clock, made)
    ok(client.post(f"/v1/activities/{made['id']}/closure"))
    clock.at(clock.now + timedelta(minutes=1))
    problem(app.check_in(client, binding_id, code), 409, "activity_closed")
    problem(_by_hand(client, made["id"], member_id), 409, "activity_closed")
    assert count(db) == 0


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_forged_expired_and_foreign_codes_are_refused_and_nothing_is_written(
    client: TestClient, db: Database, village: Village, clock: FixedClock, app: MiniProgram
) -> None:
    member_id, _ = village.member()
    binding_id = app.bind(client, member_id, "openid-4")
    made = activity(client, village.id, clock)
    code = _code(client, made["id"])
    neighbour = make_village(client, village.township_id)
    publish_charter(db, neighbour.id)
    theirs = activity(client, neighbour.id, clock)
    their_code = _code(client, theirs["id"])
    with db.unit_of_work(write=False) as session:
        key = credentials.signing_key(session, utc_now())
    _start(clock, made)
    before = entries(db)

    forged = jwt.encode(_claims(code), b"not the service's key, but 32 bytes", algorithm="HS256")
    header, _payload, signature = code.split(".")
    other_payload = {**_claims(code), "sub": theirs["id"]}
    tampered = ".".join(
        [
            header,
            base64.urlsafe_b64encode(json.dumps(other_payload).encode()).decode().rstrip("="),
            signature,
        ]
    )
    # Signed with the right key, but the activity is not the village's.
    mismatched = jwt.encode({**_claims(code), "sub": theirs["id"]}, key, algorithm="HS256")
    no_activity = jwt.encode({**_claims(code), "sub": str(uuid.uuid4())}, key, algorithm="HS256")
    wrong_audience = jwt.encode({**_claims(code), "aud": "jifen"}, key, algorithm="HS256")
    for bad in (
        forged,
        tampered,
        mismatched,
        no_activity,
        wrong_audience,
        app.access_token,  # an access token is no check-in code
        "hello",
        code + "x",
    ):
        problem(app.check_in(client, binding_id, bad), 422, "check_in_code_invalid")
    # A genuine code of another village's activity.
    problem(app.check_in(client, binding_id, their_code), 403, "check_in_code_wrong_village")
    # Nor is a check-in code an access token.
    problem(
        client.get(f"/v1/bindings/{binding_id}", headers={"Authorization": f"Bearer {code}"}),
        401,
        "unauthenticated",
    )

    clock.at(datetime.fromisoformat(made["ends_at"]) + labor.CHECK_IN_CODE_GRACE)
    problem(app.check_in(client, binding_id, code), 422, "check_in_code_expired")
    assert (count(db), entries(db)) == (0, before)


def test_check_in_waits_for_review_when_the_charter_says_so(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    village = make_village(client)
    publish_charter(
        db, village.id, review={"stages": [REVIEW_STAGE], "required": {"check_in": ["review"]}}
    )
    scanner, scanner_account = village.member()
    elder, _ = village.member()
    neighbour, _ = village.member()
    app = mini_program(client, village.township_id, ["members:bind", "activities:checkin"])
    binding_id = app.bind(client, scanner, "openid-5")
    meeting = activity(client, village.id, clock, rule_id="meeting", quantity="1")
    labor_day = activity(client, village.id, clock, rule_id="labor_hours", quantity="2")
    _start(clock, meeting)

    waiting = ok(app.check_in(client, binding_id, _code(client, meeting["id"])), 201)
    assert (waiting["status"], waiting["points"], waiting["stages_pending"]) == (
        "pending",
        0,
        ["review"],
    )
    assert waiting["explanation"] == "参加志愿活动 2 分"
    assert balance(client, scanner_account)["posted"] == 0
    # Still one per member: a pending check-in holds the place.
    problem(app.check_in(client, binding_id, _code(client, meeting["id"])), 409, "duplicate_record")

    # A clerk checking in by hand: for a rule only check-in records, as check-in (and so
    # with its review); for a rule the clerk may record, as clerk, at once.
    clerk = _clerk_key(client, village)
    by_clerk = ok(_by_hand(client, meeting["id"], elder, Authorization=f"Bearer {clerk}"), 201)
    assert by_clerk["status"] == "pending"
    assert _recorder_role(db, by_clerk["id"]) == "check_in"
    at_once = ok(_by_hand(client, labor_day["id"], neighbour, Authorization=f"Bearer {clerk}"), 201)
    assert (at_once["status"], at_once["points"]) == ("approved", 4)
    assert _recorder_role(db, at_once["id"]) == "village_clerk"


def _clerk_key(client: TestClient, village: Village) -> str:
    user = ok(
        client.post(
            "/v1/users",
            json={"name": "村干部", "township_id": village.township_id, "village_id": village.id},
        ),
        201,
    )
    roles = ok(client.get("/v1/roles", params={"township_id": village.township_id}))
    role_id = next(r["id"] for r in roles if r["code"] == "village_clerk")
    ok(client.post(f"/v1/users/{user['id']}/grants", json={"role_id": role_id}), 201)
    key = ok(client.post(f"/v1/users/{user['id']}/api-keys", json={"name": "钥匙"}), 201)
    return str(key["key"])


def test_a_rule_that_allows_repeats_still_takes_one_check_in_per_activity(
    client: TestClient, db: Database, village: Village, clock: FixedClock
) -> None:
    member_id, account_id = village.member()
    first = activity(client, village.id, clock, rule_id="volunteer", quantity="1")
    second = activity(client, village.id, clock, rule_id="volunteer", quantity="1")
    _start(clock, first)
    ok(_by_hand(client, first["id"], member_id), 201)
    body = problem(_by_hand(client, first["id"], member_id), 409, "duplicate_record")
    assert body["occurrence"] == f"activity:{first['id']}"
    ok(_by_hand(client, second["id"], member_id), 201)  # another activity, the same day
    assert count(db) == 2
    assert balance(client, account_id)["posted"] == 2


def test_check_in_refusals_of_who_may_check_in(
    client: TestClient, db: Database, village: Village, clock: FixedClock
) -> None:
    member_id, _ = village.member()
    made = activity(client, village.id, clock)
    _start(clock, made)
    stranger = make_village(client, village.township_id)
    outsider = ok(
        client.post("/v1/members", json={"village_id": stranger.id, "name": "外村人"}), 201
    )
    problem(_by_hand(client, made["id"], outsider["id"]), 422, "record_subject_invalid")
    problem(_by_hand(client, made["id"], str(uuid.uuid4())), 422, "record_subject_invalid")

    # A client without the check-in scope, and staff on the client's route.
    reader = mini_program(client, village.township_id, ["members:bind"])
    binding_id = reader.bind(client, member_id, "openid-6")
    problem(reader.check_in(client, binding_id, _code(client, made["id"])), 403, "forbidden")
    problem(
        client.post(f"/v1/bindings/{binding_id}/check-ins", json={"code": "x"}), 403, "forbidden"
    )
    # Another client's binding is not there for this one.
    scanner = mini_program(client, village.township_id, ["activities:checkin"])
    problem(scanner.check_in(client, binding_id, _code(client, made["id"])), 404, "not_found")
    assert count(db) == 0


def test_the_charter_of_the_day_scores_a_check_in(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """A rule of the version in force on the day; points as that version says."""
    village = make_village(client)
    publish_charter(db, village.id, rules=[{**MEETING, "params": {"points": 5}}, *RULES[2:]])
    member_id, account_id = village.member()
    made = activity(client, village.id, clock, rule_id="meeting", quantity="1")
    _start(clock, made)
    checked = ok(_by_hand(client, made["id"], member_id), 201)
    assert (checked["points"], checked["explanation"]) == (5, "参加志愿活动 5 分")
    with db.unit_of_work(write=False) as session:
        row = session.execute(
            select(Record).where(Record.id == uuid.UUID(checked["id"]))
        ).scalar_one()
        assert (row.occurrence, row.activity_id, row.place) == (
            f"activity:{made['id']}",
            uuid.UUID(made["id"]),
            made["place"],
        )
    assert balance(client, account_id)["posted"] == 5
