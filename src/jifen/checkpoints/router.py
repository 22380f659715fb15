"""/v1 checkpoint endpoints: the public keys, and the latest signed heads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.api.deps import SessionDep, SettingsDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.checkpoints import service
from jifen.checkpoints.schemas import CheckpointKeyRead, CheckpointRead
from jifen.problems import NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)
CHECKPOINTS_MAX = 200


@router.get(
    "/checkpoint-keys",
    tags=["books"],
    summary="The public keys that sign checkpoints (核验签名公钥)",
    description="Every key that has signed checkpoints, and the one this server signs "
    "with now. An auditor should pin a key obtained outside this service too: whoever "
    "can write the database can change what this lists.",
)
@requires(None, authenticated=True)
def list_checkpoint_keys(session: SessionDep, settings: SettingsDep) -> list[CheckpointKeyRead]:
    try:
        signer = service.find_signer(settings)
    except service.keys.KeyUnusable:
        signer = None
    signing_id = signer.key_id if signer else None
    listed = [
        CheckpointKeyRead.of(row, signing_key_id=signing_id) for row in service.list_keys(session)
    ]
    if signer is not None and all(key.key_id != signing_id for key in listed):
        listed.append(CheckpointKeyRead.of_signer(signer.public_key))
    return listed


@router.get(
    "/villages/{village_id}/checkpoints",
    tags=["books"],
    summary="A village's signed checkpoints of its chain head, newest first",
    responses=problem_responses(NotFound),
)
@requires(Permission.BOOKS_VERIFY, on="village_id")
def list_village_checkpoints(
    village_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=CHECKPOINTS_MAX)] = 20,
) -> list[CheckpointRead]:
    rows = service.list_of_village(session, village_id, limit=limit)
    return [CheckpointRead.of(row) for row in rows]


@router.get(
    "/townships/{township_id}/checkpoints/latest",
    tags=["books"],
    summary="The latest signed checkpoint of each village of a township",
    responses=problem_responses(NotFound),
)
@requires(Permission.BOOKS_VERIFY, on="township_id")
def get_township_checkpoints(township_id: uuid.UUID, session: SessionDep) -> list[CheckpointRead]:
    return [CheckpointRead.of(row) for row in service.latest_of_township(session, township_id)]
