"""/v1 what-if: score an event, or replay a period, under a charter version (draft or
published) without booking anything.

Both are POSTs because they carry a body, but they are reads: nothing is booked, no
record or event is written. (As every POST, they run in a write transaction and leave
an audit event naming the caller.)

The request and response shapes live here, beside their only routes.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body

from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.api.deps import ClockDep, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import whatif
from jifen.charters.errors import InvalidQuantity, UnknownRule
from jifen.charters.schemas import (
    WhatIfReplayCreate,
    WhatIfReplayRead,
    WhatIfScoreCreate,
    WhatIfScoreRead,
)
from jifen.problems import NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

# --- routes -----------------------------------------------------------------------------


@router.post(
    "/charter-versions/{version_id}/what-if/score",
    tags=["charters"],
    summary="Score an event under a charter version, without booking it",
    description="What the rule of this version (a draft, or any published one) scores for "
    "the quantity: the points and the explanation, before caps and deduction floors, "
    "which depend on the holder's history and balance. Nothing is booked.",
    responses=problem_responses(NotFound, UnknownRule, InvalidQuantity),
)
@requires(Permission.CHARTERS_READ, on="version_id", direct=True)
def what_if_score(
    version_id: uuid.UUID,
    body: Annotated[WhatIfScoreCreate, Body()],
    session: SessionDep,
    clock: ClockDep,
) -> WhatIfScoreRead:
    score = whatif.score_event(
        session,
        version_id=version_id,
        rule_id=body.rule_id,
        quantity=body.quantity,
        occurred_on=body.occurred_on or clock.local_date(clock.now),
    )
    return WhatIfScoreRead.of(score)


@router.post(
    "/charter-versions/{version_id}/what-if/replay",
    tags=["charters"],
    summary="Replay a period's records under a charter version, without booking anything",
    description="Re-scores every counted record (approved, or capped) of the version's "
    "village — or of one member or household — whose event day is in [from, to], under "
    "this version, and shows for each what was booked, what would have been, and the "
    "difference, with totals overall and per member (or household). Caps fill in "
    "occurrence order from the replayed records only; deductions are taken in full, "
    "without floors; a rule the version lacks scores 0. `notes` says so. Nothing is booked.",
    responses=problem_responses(
        NotFound,
        whatif.ReplayWindowInvalid,
        whatif.ReplaySubjectInvalid,
        whatif.ReplayTooLarge,
    ),
)
@requires(Permission.CHARTERS_READ, on="version_id", direct=True)
def what_if_replay(
    version_id: uuid.UUID,
    body: Annotated[WhatIfReplayCreate, Body()],
    session: SessionDep,
) -> WhatIfReplayRead:
    result = whatif.replay(
        session,
        version_id=version_id,
        from_on=body.from_on,
        to_on=body.to_on,
        member_id=body.member_id,
        household_id=body.household_id,
    )
    return WhatIfReplayRead.of(result)
