"""/v1 charter endpoints: upload a version (JSON or YAML), publish it, read them, list
the rule types the service knows."""

from __future__ import annotations

import uuid
from datetime import date
from importlib.metadata import entry_points
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from jifen.access import service as access
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import CallerDep, ClockDep, Cursor, Limit, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters import errors, service
from jifen.charters.document import CharterDocument, CharterInvalid, parse_text
from jifen.charters.rules import registry
from jifen.charters.schemas import (
    EXAMPLE_CHARTER,
    EXAMPLE_CHARTER_YAML,
    CharterVersionRead,
    CharterVersionSummary,
    RuleTypeRead,
)
from jifen.kit.schemas import PageRead
from jifen.problems import IdempotencyKeyReused, InvalidCursor, NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

DOCUMENT_BYTES_MAX = 512 * 1024
_MEDIA_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")


async def _charter_source(request: Request) -> Any:
    """The uploaded document as plain data, from JSON or YAML."""
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media_type not in _MEDIA_TYPES:
        raise errors.UnsupportedMediaType(
            f"{media_type} is not a charter format",
            detail_zh=f"{media_type} 不是章程文件的格式",
            media_types=list(_MEDIA_TYPES),
        )
    raw = await request.body()
    if len(raw) > DOCUMENT_BYTES_MAX:
        raise errors.CharterInvalidProblem(
            f"the document is {len(raw)} bytes; at most {DOCUMENT_BYTES_MAX}",
            detail_zh=f"文件大小为 {len(raw)} 字节，最多 {DOCUMENT_BYTES_MAX} 字节",
            errors=[{"field": "(document)", "message": "too large", "message_zh": "文件过大"}],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.CharterInvalidProblem(
            "the document is not UTF-8 text",
            detail_zh="文件不是 UTF-8 编码的文本",
            errors=[
                {"field": "(document)", "message": "not UTF-8", "message_zh": "不是 UTF-8 编码"}
            ],
        ) from None
    try:
        return parse_text(text, media_type)
    except CharterInvalid as problem:
        raise errors.CharterInvalidProblem(
            str(problem),
            detail_zh="文件不是有效的 JSON 或 YAML（"
            + errors.fields_zh(e.field for e in problem.errors)
            + "）",
            errors=[e.as_error() for e in problem.errors],
        ) from None


def charter_schemas() -> dict[str, Any]:
    """The charter document's JSON Schema, as OpenAPI components (its parts included)."""
    schema = CharterDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    parts = schema.pop("$defs", {})
    return {"CharterDocument": schema, **parts}


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/CharterDocument"},
                "example": EXAMPLE_CHARTER,
            },
            "application/yaml": {"schema": {"type": "string"}, "example": EXAMPLE_CHARTER_YAML},
        },
    }
}


@router.post(
    "/villages/{village_id}/charter-versions",
    status_code=status.HTTP_201_CREATED,
    tags=["charters"],
    summary="Upload a charter version",
    description="The body is the charter document, as JSON or as YAML "
    "(`Content-Type: application/yaml`). It is validated whole: a 422 `charter_invalid` "
    "lists every error with the field it is about (`rules[3].params.points_per_unit`). "
    "The version is a draft unless `publish=true`; a draft can be tried with what-if and "
    "published later.",
    openapi_extra=_UPLOAD_BODY,
    responses=problem_responses(
        NotFound,
        errors.CharterInvalidProblem,
        errors.UnsupportedMediaType,
        errors.CharterEffectiveDateTaken,
        errors.CharterWouldRescore,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.CHARTERS_WRITE, on="village_id")
def create_charter_version(
    village_id: uuid.UUID,
    data: Annotated[Any, Depends(_charter_source)],
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    publish: Annotated[bool, Query(description="publish at once")] = False,
) -> CharterVersionRead:
    version = service.create_version(
        session,
        village_id=village_id,
        data=data,
        actor=caller.actor,
        now=clock.now,
        publish=publish,
    )
    return CharterVersionRead.model_validate(version)


@router.get(
    "/villages/{village_id}/charter-versions",
    tags=["charters"],
    summary="A village's charter versions, oldest first",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.CHARTERS_READ, on="village_id")
def list_charter_versions(
    village_id: uuid.UUID, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PageRead[CharterVersionSummary]:
    page = service.list_versions(session, village_id=village_id, limit=limit, cursor=cursor)
    return PageRead[CharterVersionSummary](
        items=[CharterVersionSummary.model_validate(v) for v in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/villages/{village_id}/charter",
    tags=["charters"],
    summary="The charter version in force on a day",
    responses=problem_responses(NotFound, errors.NoCharterInForce),
)
@requires(Permission.CHARTERS_READ, on="village_id")
def get_charter_in_force(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    on: Annotated[date | None, Query(description="default: today, local time")] = None,
) -> CharterVersionRead:
    day = on or clock.local_date(clock.now)
    return CharterVersionRead.model_validate(service.in_force(session, village_id, day))


@router.get(
    "/charter-versions/{version_id}",
    tags=["charters"],
    summary="A charter version, with its document",
    responses=problem_responses(NotFound),
)
@requires(Permission.CHARTERS_READ, on="version_id")
def get_charter_version(version_id: uuid.UUID, session: SessionDep) -> CharterVersionRead:
    return CharterVersionRead.model_validate(service.get_version(session, version_id))


@router.get(
    "/bindings/{binding_id}/charter",
    tags=["charters"],
    summary="The charter in force in the bound member's village",
    description="What a mini-program shows as the village's 积分细则: the version in force "
    "today, with its rules.",
    responses=problem_responses(NotFound, errors.NoCharterInForce),
)
@requires(None, on="binding_id", client_scope=ClientScope.MEMBERS_READ, staff=False)
def get_bound_charter(
    binding_id: uuid.UUID, session: SessionDep, clock: ClockDep
) -> CharterVersionRead:
    binding = access.get_binding(session, binding_id)
    version = service.in_force(session, binding.village_id, clock.local_date(clock.now))
    return CharterVersionRead.model_validate(version)


@router.post(
    "/charter-versions/{version_id}/publication",
    tags=["charters"],
    summary="Publish a draft version",
    description="From its effective date on, events are scored by this version. It must "
    "take effect after every published version and after every event already scored.",
    responses=problem_responses(
        NotFound,
        errors.CharterVersionNotDraft,
        errors.CharterEffectiveDateTaken,
        errors.CharterWouldRescore,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.CHARTERS_WRITE, on="version_id")
def publish_charter_version(
    version_id: uuid.UUID, session: SessionDep, caller: CallerDep, clock: ClockDep
) -> CharterVersionRead:
    version = service.publish_version(
        session, version_id=version_id, actor=caller.actor, now=clock.now
    )
    return CharterVersionRead.model_validate(version)


@router.get(
    "/rule-types",
    tags=["charters"],
    summary="The rule types charters may use",
    description="Built-in types and those of installed plugins (entry-point group "
    "`jifen.rules`), each with the JSON Schema of its parameters.",
)
@requires(Permission.CHARTERS_READ, anywhere=True)
def list_rule_types() -> list[RuleTypeRead]:
    distributions = {
        ep.name: (ep.dist.name if ep.dist is not None else None)
        for ep in entry_points(group=registry.GROUP)
    }
    return [
        RuleTypeRead(
            name=name,
            label=rule_type.label,
            params_schema=rule_type.params_model.model_json_schema(),
            distribution=distributions.get(name),
        )
        for name, rule_type in sorted(registry.rule_types().items())
    ]
