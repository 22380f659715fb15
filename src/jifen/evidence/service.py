"""Uploading evidence photos, citing them in records, and deciding who may see them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.evidence import images
from jifen.evidence.errors import (
    EvidencePhotoNotInVillage,
    EvidencePhotoTooLarge,
    EvidencePhotoUnavailable,
)
from jifen.evidence.storage import Storage, StoredObjectMissing
from jifen.kit.ids import new_id
from jifen.models import EvidencePhoto, EvidencePhotoRecord, Record
from jifen.problems import NotFound

# What a record's evidence item names an uploaded photo by: {"kind": "photo", "ref":
# "evidence-photo:<id>"}. Any other ref (a URL) is kept as given.
REF_PREFIX = "evidence-photo:"


def ref_of(photo_id: uuid.UUID) -> str:
    return f"{REF_PREFIX}{photo_id}"


def upload(
    session: Session,
    storage: Storage,
    *,
    village_id: uuid.UUID,
    township_id: uuid.UUID,
    data: bytes,
    bytes_max: int,
    pixels_max: int,
    actor: str,
    now: datetime,
) -> EvidencePhoto:
    """Check, clean and store a photo; the village's row for it (the existing one if the
    same photo was uploaded before, which makes a retry harmless)."""
    if len(data) > bytes_max:
        raise EvidencePhotoTooLarge(
            f"the photo is more than {bytes_max} bytes",
            detail_zh=f"照片超过 {bytes_max} 字节",
            bytes_max=bytes_max,
        )
    image = images.clean(data, pixels_max=pixels_max)
    sha256 = hashlib.sha256(image.data).hexdigest()
    found = session.execute(
        select(EvidencePhoto).where(
            EvidencePhoto.village_id == village_id, EvidencePhoto.sha256 == sha256
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    key = f"{sha256}.{image.extension}"
    # Stored before the row is written: a row never names bytes that are not there (a
    # failed transaction leaves at most an object no row names, reused by a retry).
    storage.put(key, image.data, image.content_type)
    photo = EvidencePhoto(
        id=new_id(),
        township_id=township_id,
        village_id=village_id,
        sha256=sha256,
        storage_key=key,
        size_bytes=len(image.data),
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        uploaded_by=actor,
        uploaded_at=now,
    )
    try:
        with session.begin_nested():
            session.add(photo)
    except IntegrityError:
        # The same photo, uploaded at the same moment by another request that committed
        # first: that one is the village's photo.
        return session.execute(
            select(EvidencePhoto).where(
                EvidencePhoto.village_id == village_id, EvidencePhoto.sha256 == sha256
            )
        ).scalar_one()
    return photo


def cited_photos(
    session: Session, village_id: uuid.UUID, evidence: Sequence[dict[str, Any]]
) -> list[uuid.UUID]:
    """The uploaded photos a record's evidence cites; refuses an item naming a photo that
    is not one of the village's (unknown, or another village's: the same answer)."""
    wanted: dict[int, uuid.UUID | None] = {}
    for index, item in enumerate(evidence):
        ref = str(item.get("ref", ""))
        if item.get("kind") != "photo" or not ref.startswith(REF_PREFIX):
            continue
        try:
            wanted[index] = uuid.UUID(ref[len(REF_PREFIX) :])
        except ValueError:
            wanted[index] = None
    if not wanted:
        return []
    known = set(
        session.execute(
            select(EvidencePhoto.id).where(
                EvidencePhoto.village_id == village_id,
                EvidencePhoto.id.in_([i for i in wanted.values() if i is not None]),
            )
        ).scalars()
    )
    for index, photo_id in wanted.items():
        if photo_id not in known:
            cited = str(evidence[index].get("ref"))
            raise EvidencePhotoNotInVillage(
                f"evidence item {index} names {cited}, which is not a photo of this village",
                detail_zh=f"第 {index + 1} 项证据 {cited} 不是本村上传的照片",
                item=index,
                ref=cited,
            )
    return list(dict.fromkeys(i for i in wanted.values() if i is not None))


def attach(
    session: Session,
    photo_ids: Sequence[uuid.UUID],
    *,
    record_id: uuid.UUID,
    village_id: uuid.UUID,
    now: datetime,
) -> None:
    """Link the record to the photos its evidence cites (checked by cited_photos)."""
    if not photo_ids:
        return
    session.flush()
    session.add_all(
        EvidencePhotoRecord(
            photo_id=photo_id, record_id=record_id, village_id=village_id, attached_at=now
        )
        for photo_id in photo_ids
    )
    session.flush()


def get_photo(session: Session, photo_id: uuid.UUID) -> EvidencePhoto:
    photo = session.get(EvidencePhoto, photo_id)
    if photo is None:
        raise NotFound("evidence photo", photo_id)
    return photo


def citing_records(session: Session, photo_id: uuid.UUID) -> list[tuple[uuid.UUID | None, ...]]:
    """(member_id, household_id) of every record citing the photo."""
    rows = session.execute(
        select(Record.member_id, Record.household_id)
        .join(EvidencePhotoRecord, EvidencePhotoRecord.record_id == Record.id)
        .where(EvidencePhotoRecord.photo_id == photo_id)
    ).all()
    return [tuple(row) for row in rows]


def read_bytes(storage: Storage, photo: EvidencePhoto) -> tuple[bytes, str]:
    try:
        data, _content_type = storage.get(photo.storage_key)
    except StoredObjectMissing:
        raise EvidencePhotoUnavailable(
            f"photo {photo.id} is not in the storage",
            detail_zh=f"存储中找不到照片 {photo.id}",
            photo_id=str(photo.id),
        ) from None
    return data, photo.content_type
