"""Why an evidence photo is refused. Each code is stable."""

from __future__ import annotations

from jifen.problems import Problem


class EvidencePhotoTooLarge(Problem):
    code = "evidence_photo_too_large"
    title = "The photo is larger than an evidence photo may be"
    title_zh = "照片超过证据照片的大小上限"
    status = 413


class EvidencePhotoTypeRefused(Problem):
    code = "evidence_photo_type_refused"
    title = "An evidence photo is a JPEG, PNG or WebP image"
    title_zh = "证据照片须为 JPEG、PNG 或 WebP 图片"
    status = 415


class EvidencePhotoTooManyPixels(Problem):
    code = "evidence_photo_too_many_pixels"
    title = "The image has more pixels than an evidence photo may have"
    title_zh = "图片像素数超过证据照片的上限"
    status = 422


class EvidencePhotoNotInVillage(Problem):
    code = "evidence_photo_not_in_village"
    title = "The evidence names a photo that is not one of this village's"
    title_zh = "证据所指的照片不属于本村"
    status = 422


class EvidencePhotoUnavailable(Problem):
    code = "evidence_photo_unavailable"
    title = "The photo's stored bytes cannot be read now"
    title_zh = "暂时无法读取照片文件"
    status = 503
