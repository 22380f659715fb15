"""/v1 evidence photo endpoints: upload a photo of a village, read one back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from jifen.access import guard
from jifen.access import service as access
from jifen.access.guard import Caller, Scope, requires, resolver
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import CallerDep, ClockDep, SessionDep, SettingsDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.evidence import errors, service
from jifen.evidence.schemas import EvidencePhotoRead
from jifen.evidence.storage import Storage
from jifen.ledger.facts import village_township
from jifen.models import EvidencePhoto
from jifen.problems import IdempotencyKeyReused, NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.evidence_storage
    return storage


StorageDep = Annotated[Storage, Depends(get_storage)]

_PARAM = "evidence_photo_id"


@resolver(_PARAM, "evidence photo")
def _photo(session: Session, id_: uuid.UUID, _caller: Caller) -> Scope | None:
    photo = session.get(EvidencePhoto, id_)
    if photo is None:
        return None
    citing = service.citing_records(session, id_)
    return Scope(
        "evidence photo",
        id_,
        photo.township_id,
        photo.village_id,
        member_ids=frozenset(m for m, _h in citing if m is not None),
        household_ids=frozenset(h for _m, h in citing if h is not None),
    )


_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The photo's bytes (re-encoded at upload, without metadata)",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("image/jpeg", "image/png", "image/webp")
        },
    }
}


def _image(storage: Storage, photo: EvidencePhoto) -> Response:
    data, content_type = service.read_bytes(storage, photo)
    return Response(
        content=data,
        media_type=content_type,
        headers={
            # Personal data: never kept by a shared cache; the type is the one stated.
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{photo.storage_key}"',
        },
    )


@router.post(
    "/villages/{village_id}/evidence-photos",
    status_code=status.HTTP_201_CREATED,
    tags=["evidence"],
    summary="Upload a photo as evidence for the village's records",
    description="Multipart upload, field `file`. A JPEG, PNG or WebP image (decided by "
    "its bytes, not the declared type), at most `JIFEN_EVIDENCE_PHOTO_BYTES_MAX` bytes "
    "(default 5 MiB, else 413) and `JIFEN_EVIDENCE_PHOTO_PIXELS_MAX` pixels. The photo is "
    "turned upright and saved again **without its metadata**: EXIF (a phone's GPS "
    "position, its serial number), XMP and comments are not kept. Cite it in a record's "
    'evidence as `{"kind": "photo", "ref": "<ref>"}`. The same photo uploaded again in '
    "the village answers the same photo (by the SHA-256 of the stored bytes), so a "
    "retried upload is harmless with or without an Idempotency-Key.",
    responses=problem_responses(
        NotFound,
        IdempotencyKeyReused,
        errors.EvidencePhotoTooLarge,
        errors.EvidencePhotoTypeRefused,
        errors.EvidencePhotoTooManyPixels,
    ),
)
@requires(Permission.RECORDS_CREATE, on="village_id", direct=True)
def create_evidence_photo(
    village_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The photo: JPEG, PNG or WebP")],
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> EvidencePhotoRead:
    township_id = village_township(session, village_id)
    if township_id is None:
        raise NotFound("village", village_id)
    photo = service.upload(
        session,
        storage,
        village_id=village_id,
        township_id=township_id,
        data=file.file.read(settings.evidence_photo_bytes_max + 1),
        bytes_max=settings.evidence_photo_bytes_max,
        pixels_max=settings.evidence_photo_pixels_max,
        actor=caller.actor,
        now=clock.now,
    )
    return EvidencePhotoRead.of(photo)


_READ_RULE = (
    "entries:read over a record citing the photo (a resident: their own household's "
    "record); before any record cites it, records:create and being its uploader"
)


@router.get(
    "/evidence-photos/{evidence_photo_id}",
    tags=["evidence"],
    summary="An evidence photo's image",
    description="Served to whoever may read a record citing the photo, and before any "
    "record cites it only to whoever uploaded it. Anyone else gets 404, as for a photo "
    "that does not exist.",
    response_class=Response,
    responses={**_IMAGE, **problem_responses(NotFound, errors.EvidencePhotoUnavailable)},
)
@requires(Permission.ENTRIES_READ, on=_PARAM, in_request=_READ_RULE)
def get_evidence_photo(
    evidence_photo_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    storage: StorageDep,
) -> Any:
    scope = guard.resolve(session, _PARAM, {_PARAM: str(evidence_photo_id)}, caller)
    photo = service.get_photo(session, evidence_photo_id)
    if service.citing_records(session, photo.id):
        needed = Permission.ENTRIES_READ
        may = guard.allows(caller, needed, scope)
    else:
        needed = Permission.RECORDS_CREATE
        may = photo.uploaded_by == caller.actor and guard.allows(caller, needed, scope)
    if not may:
        raise scope.hidden()
    guard.check(caller, needed, scope)
    return _image(storage, photo)


@router.get(
    "/bindings/{binding_id}/evidence-photos/{evidence_photo_id}",
    tags=["evidence"],
    summary="An evidence photo of the bound member's own records",
    description="Only a photo that a record of the bound member (or of their household) "
    "cites; any other photo answers 404, as one that does not exist.",
    response_class=Response,
    responses={**_IMAGE, **problem_responses(NotFound, errors.EvidencePhotoUnavailable)},
)
@requires(None, on="binding_id", client_scope=ClientScope.RECORDS_CLAIM, staff=False)
def get_bound_evidence_photo(
    binding_id: uuid.UUID,
    evidence_photo_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    storage: StorageDep,
) -> Any:
    binding = access.get_binding(session, binding_id)
    bound = guard.resolve(session, "binding_id", {"binding_id": str(binding_id)}, caller)
    photo = session.get(EvidencePhoto, evidence_photo_id)
    own = photo is not None and any(
        member_id == binding.member_id or household_id in bound.household_ids
        for member_id, household_id in service.citing_records(session, photo.id)
    )
    if photo is None or not own or photo.village_id != binding.village_id:
        raise NotFound("evidence photo", evidence_photo_id)
    return _image(storage, photo)
