"""Opening activities, closing them, and their signed check-in codes and QR codes."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import jwt
from fastapi.testclient import TestClient

from jifen.access import credentials
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from tests.api.helpers import (
    Village,
    create_village,
    make_village,
    ok,
    problem,
    validation_failed,
)
from tests.labor.conftest import FixedClock, activity, open_activity, publish_charter


def test_an_activity_is_opened_read_and_listed(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    project = ok(
        client.post(f"/v1/villages/{village.id}/projects", json={"code": "p1", "name": "村道"}),
        201,
    )
    made = activity(client, village.id, clock, quantity="3.50", project_id=project["id"])
    assert made["quantity"] == "3.5"
    assert made["state"] == "scheduled"
    assert made["closed_at"] is None
    assert made["project_id"] == project["id"]
    assert made["created_by"].startswith("user:")
    assert ok(client.get(f"/v1/activities/{made['id']}")) == made

    other = activity(client, village.id, clock, rule_id="meeting", quantity="1")
    listed = ok(client.get(f"/v1/villages/{village.id}/activities"))["items"]
    assert [a["id"] for a in listed] == [other["id"], made["id"]]  # newest first
    in_project = ok(
        client.get(f"/v1/villages/{village.id}/activities", params={"project_id": project["id"]})
    )["items"]
    assert [a["id"] for a in in_project] == [made["id"]]

    starts_at = datetime.fromisoformat(made["starts_at"])
    clock.at(starts_at - labor.CHECK_IN_EARLY)
    assert ok(client.get(f"/v1/activities/{made['id']}"))["state"] == "open"
    clock.at(datetime.fromisoformat(made["ends_at"]))
    assert ok(client.get(f"/v1/activities/{made['id']}"))["state"] == "ended"


def test_activity_rule_must_be_recorded_by_check_in_without_evidence(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    body = problem(
        open_activity(client, village.id, clock, rule_id="clean_lane", quantity="1"),
        422,
        "rule_not_for_check_in",
    )
    assert body["recorders"] == ["village_clerk"]
    problem(
        open_activity(client, village.id, clock, rule_id="litter", quantity="1"),
        422,
        "rule_not_for_check_in",
    )
    body = problem(
        open_activity(client, village.id, clock, rule_id="green_space", quantity="1"),
        422,
        "rule_needs_evidence",
    )
    assert body["evidence"] == ["photo"]
    problem(open_activity(client, village.id, clock, rule_id="nope"), 422, "unknown_rule")
    # Half a meeting is no meeting: the rule refuses the quantity.
    problem(
        open_activity(client, village.id, clock, rule_id="meeting", quantity="1.5"),
        422,
        "invalid_quantity",
    )
    for quantity in ("0", "-1", "abc", "100001"):
        validation_failed(open_activity(client, village.id, clock, quantity=quantity))
    assert ok(client.get(f"/v1/villages/{village.id}/activities"))["items"] == []


def test_activity_rule_comes_from_the_charter_in_force_on_its_start_date(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    late = make_village(client)
    # The charter takes effect in ten days: an activity before then has no charter.
    publish_charter(db, late.id, effective_on=(utc_now() + timedelta(days=10)).date())
    problem(open_activity(client, late.id, clock), 422, "no_charter_in_force")
    ok(open_activity(client, late.id, clock, starts_in=timedelta(days=12)), 201)


def test_activity_window_is_checked(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    for starts_in, length in (
        (timedelta(hours=2), timedelta(0)),  # ends when it starts
        (timedelta(hours=2), -timedelta(hours=1)),  # ends before it starts
        (timedelta(hours=2), timedelta(days=7, seconds=1)),  # longer than a week
        (-timedelta(hours=5), timedelta(hours=3)),  # over already
    ):
        problem(
            open_activity(client, village.id, clock, starts_in=starts_in, length=length),
            422,
            "activity_window_invalid",
        )
    ok(open_activity(client, village.id, clock, length=timedelta(days=7)), 201)
    # Running now (started an hour ago) is fine.
    ok(open_activity(client, village.id, clock, starts_in=-timedelta(hours=1)), 201)
    # A bare local time would be ambiguous.
    body = {
        "rule_id": "labor_hours",
        "title": "t",
        "place": "p",
        "starts_at": "2030-01-01T08:00:00",
        "ends_at": "2030-01-01T10:00:00",
        "quantity": "1",
    }
    validation_failed(client.post(f"/v1/villages/{village.id}/activities", json=body))


def test_activity_project_must_be_the_villages(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    neighbour = create_village(client, village.township_id)
    theirs = ok(
        client.post(f"/v1/villages/{neighbour['id']}/projects", json={"code": "p", "name": "桥"}),
        201,
    )
    problem(
        open_activity(client, village.id, clock, project_id=theirs["id"]),
        422,
        "project_not_in_village",
    )
    problem(
        open_activity(client, village.id, clock, project_id=str(uuid.uuid4())),
        422,
        "project_not_in_village",
    )


def test_unknown_activity_and_village_are_not_found(client: TestClient, clock: FixedClock) -> None:
    missing = str(uuid.uuid4())
    for path in ("", "/check-in-code", "/qr-code"):
        problem(client.get(f"/v1/activities/{missing}{path}"), 404, "not_found")
    problem(client.post(f"/v1/activities/{missing}/closure"), 404, "not_found")
    problem(open_activity(client, missing, clock), 404, "not_found")
    problem(client.get(f"/v1/villages/{missing}/activities"), 404, "not_found")


def test_check_in_code_is_signed_for_check_in_and_the_qr_code_carries_it(
    client: TestClient, db: Database, village: Village, clock: FixedClock
) -> None:
    made = activity(client, village.id, clock)
    code = ok(client.get(f"/v1/activities/{made['id']}/check-in-code"))
    ends_at = datetime.fromisoformat(made["ends_at"])
    assert datetime.fromisoformat(code["expires_at"]) == ends_at + labor.CHECK_IN_CODE_GRACE
    assert code["svg_url"] == f"/v1/activities/{made['id']}/qr-code"
    # The same code every time: a clerk may print it ahead.
    assert ok(client.get(f"/v1/activities/{made['id']}/check-in-code")) == code

    with db.unit_of_work(write=False) as session:
        key = credentials.signing_key(session, utc_now())
    claims = jwt.decode(
        code["token"],
        key,
        algorithms=["HS256"],
        audience="jifen:check-in",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "jifen",
        "aud": "jifen:check-in",
        "sub": made["id"],
        "village": village.id,
        "exp": int((ends_at + labor.CHECK_IN_CODE_GRACE).timestamp()),
    }
    # An access token's audience is another: the code is not one.
    try:
        jwt.decode(code["token"], key, algorithms=["HS256"], audience=credentials.TOKEN_AUDIENCE)
        raise AssertionError("a check-in code passed as an access token")
    except jwt.InvalidAudienceError:
        pass

    response = client.get(f"/v1/activities/{made['id']}/qr-code")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-store"
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) > 100
    assert any(e.tag.endswith("path") for e in root.iter())
    assert response.text == labor.qr_svg(code["token"], title=made["title"])


def test_closing_an_activity_early(client: TestClient, village: Village, clock: FixedClock) -> None:
    made = activity(client, village.id, clock)
    clock.at(datetime.fromisoformat(made["starts_at"]))
    closed = ok(client.post(f"/v1/activities/{made['id']}/closure"))
    assert closed["state"] == "closed"
    assert datetime.fromisoformat(closed["closed_at"]) == clock.now
    problem(client.post(f"/v1/activities/{made['id']}/closure"), 409, "activity_closed")
    problem(client.get(f"/v1/activities/{made['id']}/check-in-code"), 409, "activity_closed")
    problem(client.get(f"/v1/activities/{made['id']}/qr-code"), 409, "activity_closed")

    ended = activity(client, village.id, clock, starts_in=timedelta(minutes=1))
    clock.at(datetime.fromisoformat(ended["ends_at"]))
    problem(client.post(f"/v1/activities/{ended['id']}/closure"), 409, "activity_ended")
    problem(client.get(f"/v1/activities/{ended['id']}/check-in-code"), 409, "activity_ended")
