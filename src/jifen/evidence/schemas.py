"""Evidence photo API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from jifen.evidence.service import ref_of
from jifen.kit.schemas import Schema
from jifen.models import EvidencePhoto


class EvidencePhotoRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e60",
                    "village_id": "01936f0e-7b5a-7c2d-9f00-0000000000b1",
                    "content_type": "image/jpeg",
                    "size_bytes": 284113,
                    "width": 1600,
                    "height": 1200,
                    "sha256": "9f2c4d0b6a3e8f1c2d5b7a9e0c1f3d4b6a8c0e2f4a6b8d0c2e4f6a8b0c2d4e6f",
                    "ref": "evidence-photo:01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e60",
                    "uploaded_at": "2026-03-07T09:12:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    village_id: uuid.UUID
    content_type: str = Field(description="image/jpeg, image/png or image/webp")
    size_bytes: int = Field(description="of the stored photo (re-encoded, without metadata)")
    width: int
    height: int
    sha256: str = Field(description="of the stored bytes: the same photo is one photo")
    ref: str = Field(
        description='what a record\'s evidence names it by: {"kind": "photo", "ref": <ref>}'
    )
    uploaded_at: datetime

    @classmethod
    def of(cls, photo: EvidencePhoto) -> EvidencePhotoRead:
        return cls(
            id=photo.id,
            village_id=photo.village_id,
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            width=photo.width,
            height=photo.height,
            sha256=photo.sha256,
            ref=ref_of(photo.id),
            uploaded_at=photo.uploaded_at,
        )
