"""What an uploaded file is, decided by its bytes; and the image re-encoded without its
metadata. Pure: bytes in, bytes out."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from jifen.evidence.errors import EvidencePhotoTooManyPixels, EvidencePhotoTypeRefused

# Pillow's format name → (content type, storage key extension).
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def clean(data: bytes, *, pixels_max: int) -> CleanImage:
    """The photo as it will be stored: the same format, turned upright as its EXIF
    orientation says, and saved again without EXIF, XMP, comments or text chunks (a
    phone's photo carries its GPS position there). The colour profile is kept."""
    try:
        # Pillow refuses outright past twice its own limit (DecompressionBombError); under
        # that, the image's size is read from its header and checked here before decoding.
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        width, height = image.size
        if width * height > pixels_max:
            raise EvidencePhotoTooManyPixels(
                f"the image is {width}×{height} pixels, more than {pixels_max}",
                detail_zh=f"图片为 {width}×{height} 像素，超过上限 {pixels_max}",
                width=width,
                height=height,
                pixels_max=pixels_max,
            )
        fmt = str(image.format)
        image.load()
    except Image.DecompressionBombError:
        raise EvidencePhotoTooManyPixels(
            f"the image has more than {pixels_max} pixels",
            detail_zh=f"图片像素数超过上限 {pixels_max}",
            pixels_max=pixels_max,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise EvidencePhotoTypeRefused(
            "the file is not a readable JPEG, PNG or WebP image",
            detail_zh="该文件不是可读取的 JPEG、PNG 或 WebP 图片",
        ) from None
    content_type, extension = FORMATS[fmt]
    icc_profile = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    # Nothing of the original's metadata goes to the encoder (some encoders fall back to
    # the image's own EXIF, XMP and text when none is given).
    upright.info = {}
    out = io.BytesIO()
    options: dict[str, object] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=90, optimize=True, **options)
    elif fmt == "PNG":
        upright.save(out, "PNG", optimize=True, **options)
    else:
        upright.save(out, "WEBP", quality=90, **options)
    return CleanImage(out.getvalue(), content_type, extension, upright.width, upright.height)
