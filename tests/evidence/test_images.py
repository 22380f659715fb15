"""What an upload is, decided by its bytes, and what is kept of it (no database)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from jifen.evidence import images
from jifen.evidence.errors import EvidencePhotoTooManyPixels, EvidencePhotoTypeRefused
from tests.evidence.photos import GPS_IFD, exif_of, photo

PIXELS_MAX = 50_000_000


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")],
)
def test_each_format_is_kept_in_its_format_without_exif(
    fmt: str, content_type: str, extension: str
) -> None:
    data = photo(fmt, size=(30, 20))
    assert GPS_IFD in exif_of(data)
    clean = images.clean(data, pixels_max=PIXELS_MAX)
    assert (clean.content_type, clean.extension) == (content_type, extension)
    assert (clean.width, clean.height) == (30, 20)
    assert exif_of(clean.data) == {}
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == fmt
        assert "exif" not in stored.info
        assert "xmp" not in stored.info


def test_png_text_chunks_are_not_kept() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "张三家门口 39.9075N 116.3972E")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", pnginfo=info)
    clean = images.clean(out.getvalue(), pixels_max=PIXELS_MAX)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert "Comment" not in stored.info
    assert b"116.3972" not in clean.data


def test_cleaning_is_deterministic() -> None:
    data = photo("JPEG")
    assert images.clean(data, pixels_max=PIXELS_MAX) == images.clean(data, pixels_max=PIXELS_MAX)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_small_file_of_too_many_pixels_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    # 10,000 × 10,000 of one colour: a few kilobytes that decode into 300 MB.
    Image.new("L", (10_000, 10_000)).save(out, "PNG")
    assert out.tell() < 200_000
    with pytest.raises(EvidencePhotoTooManyPixels) as refused:
        images.clean(out.getvalue(), pixels_max=PIXELS_MAX)
    assert refused.value.extra["pixels_max"] == PIXELS_MAX


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.4\n",
        b"BM" + b"\x00" * 60,  # a BMP header: Pillow reads BMP, evidence does not take it
    ],
)
def test_other_files_are_refused(data: bytes) -> None:
    with pytest.raises(EvidencePhotoTypeRefused):
        images.clean(data, pixels_max=PIXELS_MAX)


def test_a_real_bmp_or_gif_is_refused() -> None:
    for fmt in ("BMP", "GIF", "TIFF"):
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, fmt)
        with pytest.raises(EvidencePhotoTypeRefused):
            images.clean(out.getvalue(), pixels_max=PIXELS_MAX)


def test_the_pixel_limit_is_the_settings_own() -> None:
    with pytest.raises(EvidencePhotoTooManyPixels) as refused:
        images.clean(photo("JPEG", size=(64, 48)), pixels_max=64 * 48 - 1)
    assert (refused.value.extra["width"], refused.value.extra["height"]) == (64, 48)
    assert images.clean(photo("JPEG", size=(64, 48)), pixels_max=64 * 48).width == 64
