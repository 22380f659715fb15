"""Village projects, and the labor residents gave them (投工投劳) worked out by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from fastapi.testclient import TestClient

from jifen.db import Database
from jifen.ledger.service import Clock
from jifen.records import service as records
from tests.api.helpers import (
    Village,
    all_pages,
    create_household,
    create_village,
    make_village,
    ok,
    problem,
    validation_failed,
)
from tests.labor.conftest import REVIEW_STAGE, FixedClock, activity, publish_charter


def _project(client: TestClient, village_id: str, **body: object) -> dict[str, object]:
    body = {"code": "road-2025", "name": "村道硬化", **body}
    return ok(client.post(f"/v1/villages/{village_id}/projects", json=body), 201)  # type: ignore[no-any-return]


def test_projects_are_created_read_and_listed(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    made = _project(
        client,
        village.id,
        description="三组至五组村道硬化",
        starts_on="2025-03-01",
        ends_on="2025-06-30",
    )
    assert (made["village_id"], made["township_id"]) == (village.id, village.township_id)
    assert (made["starts_on"], made["ends_on"]) == ("2025-03-01", "2025-06-30")
    assert str(made["created_by"]).startswith("user:")
    assert ok(client.get(f"/v1/projects/{made['id']}")) == made

    body = problem(
        client.post(
            f"/v1/villages/{village.id}/projects", json={"code": "road-2025", "name": "另一个"}
        ),
        409,
        "project_code_taken",
    )
    assert body["project_code"] == "road-2025"
    # Codes are the village's own: another village may use the same.
    neighbour = create_village(client, village.township_id)
    _project(client, neighbour["id"])

    problem(
        client.post(
            f"/v1/villages/{village.id}/projects",
            json={"code": "x", "name": "x", "starts_on": "2025-03-02", "ends_on": "2025-03-01"},
        ),
        422,
        "project_dates_invalid",
    )
    validation_failed(
        client.post(f"/v1/villages/{village.id}/projects", json={"code": "bad code", "name": "x"})
    )
    others = [_project(client, village.id, code=f"p{n}")["id"] for n in range(3)]
    items, pages = all_pages(client, f"/v1/villages/{village.id}/projects", 2)
    assert [p["id"] for p in items] == [made["id"], *others]
    assert pages == 2
    problem(client.get(f"/v1/projects/{uuid.uuid4()}"), 404, "not_found")
    problem(client.get(f"/v1/projects/{uuid.uuid4()}/labor"), 404, "not_found")


def test_project_labor_counts_approved_and_capped_records_only(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """Labor 2 points an hour, at most 10 points a member a day; a meeting 2 points.

    | who | what                                  | hours | times | points       |
    |-----|---------------------------------------|-------|-------|--------------|
    | 甲  | clean-up check-in (3 h)               | 3     |       | 6            |
    | 甲  | meeting check-in                      |       | 1     | 2            |
    | 甲  | clerk records 4 h                     | 4     |       | 8 → 4 (cap)  |
    | 甲  | clerk records 1 h                     | 1     |       | 2 → 0 capped |
    | 乙  | clean-up check-in (3 h)               | 3     |       | 6            |
    | 丙  | clean-up check-in (3 h)               | 3     |       | 6            |
    | 丁  | own report 2 h (pending: not counted) |       |       |              |
    | 甲  | clerk records 5 h, no project         |       |       | (elsewhere)  |

    Totals: 14 hours and 1 time; 6 records; 3 members; 1 household (甲 and 乙 share
    one, 丙 has none); 24 points; 1 pending.
    """
    village = make_village(client)
    publish_charter(
        db, village.id, review={"stages": [REVIEW_STAGE], "required": {"resident": ["review"]}}
    )
    project = _project(client, village.id)
    other = _project(client, village.id, code="bridge")
    household = create_household(client, village.id)
    jia, _ = village.member(name="甲", household_id=household["id"])
    yi, _ = village.member(name="乙", household_id=household["id"])
    bing, _ = village.member(name="丙")
    ding, _ = village.member(name="丁")
    clean_up = activity(client, village.id, clock, quantity="3", project_id=project["id"])
    meeting = activity(
        client, village.id, clock, rule_id="meeting", quantity="1", project_id=project["id"]
    )
    clock.at(datetime.fromisoformat(clean_up["starts_at"]))
    for member_id in (jia, yi, bing):
        ok(
            client.post(
                f"/v1/activities/{clean_up['id']}/check-ins", json={"member_id": member_id}
            ),
            201,
        )
    ok(client.post(f"/v1/activities/{meeting['id']}/check-ins", json={"member_id": jia}), 201)

    settings = client.app.state.settings  # type: ignore[attr-defined]
    clerk = records.Recorder("user:clerk", frozenset({"village_clerk"}))
    resident = records.Recorder("client:mp", frozenset({"resident"}))
    with db.unit_of_work() as session:
        now = Clock(now=clock.now, settings=settings)

        def record(member_id: str, hours: str, project_id: object, by: records.Recorder) -> str:
            row = records.record(
                session,
                records.RecordRequest(
                    village_id=uuid.UUID(village.id),
                    rule_id="labor_hours",
                    member_id=uuid.UUID(member_id),
                    household_id=None,
                    quantity=Decimal(hours),
                    occurred_at=clock.now,
                    occurrence=f"manual-{hours}-{project_id}",
                    project_id=uuid.UUID(str(project_id)) if project_id else None,
                ),
                recorder=by,
                clock=now,
            )
            return row.status

        assert record(jia, "4", project["id"], clerk) == "approved"  # cut to 4 by the cap
        assert record(jia, "1", project["id"], clerk) == "capped"  # cut to 0
        assert record(ding, "2", project["id"], resident) == "pending"
        assert record(jia, "5", None, clerk) == "capped"  # no project: not counted here
        assert record(yi, "1", other["id"], clerk) == "approved"  # another project

    labor = ok(client.get(f"/v1/projects/{project['id']}/labor"))
    assert labor["project_id"] == project["id"]
    assert labor["totals"] == [
        {"unit": "hour", "unit_label": "小时", "quantity": "14"},
        {"unit": "time", "unit_label": "次", "quantity": "1"},
    ]
    assert (labor["records"], labor["members"], labor["households"]) == (6, 3, 1)
    assert (labor["awarded_points"], labor["pending_records"]) == (24, 1)
    assert [
        (
            c["name"],
            c["records"],
            c["awarded_points"],
            {q["unit"]: q["quantity"] for q in c["quantities"]},
        )
        for c in labor["contributors"]
    ] == [
        ("甲", 4, 12, {"hour": "8", "time": "1"}),
        ("丙", 1, 6, {"hour": "3"}),
        ("乙", 1, 6, {"hour": "3"}),
    ]
    assert labor["contributors"][0]["member_id"] == jia

    bridge = ok(client.get(f"/v1/projects/{other['id']}/labor"))
    assert (bridge["records"], bridge["awarded_points"], bridge["totals"]) == (
        1,
        2,
        [{"unit": "hour", "unit_label": "小时", "quantity": "1"}],
    )


def test_an_empty_project_has_nothing_to_count(
    client: TestClient, village: Village, clock: FixedClock
) -> None:
    project = _project(client, village.id)
    labor = ok(client.get(f"/v1/projects/{project['id']}/labor"))
    assert labor["totals"] == [] and labor["contributors"] == []
    assert (labor["records"], labor["members"], labor["households"], labor["awarded_points"]) == (
        0,
        0,
        0,
        0,
    )
