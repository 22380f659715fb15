"""Photos made in the tests, as a phone would make them (EXIF with a GPS position)."""

from __future__ import annotations

import io

from PIL import Image

# 天安门 (39°54'27"N 116°23'50"E): what a phone writes into a photo's EXIF.
GPS = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 50.0)}
GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112


def photo(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    colour: tuple[int, int, int] = (200, 30, 30),
    *,
    gps: bool = True,
    orientation: int | None = None,
) -> bytes:
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[MAKE] = "TestPhone"
    if gps:
        exif[GPS_IFD] = GPS
    if orientation is not None:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def noisy_jpeg(bytes_at_least: int) -> bytes:
    """A valid JPEG of at least this many bytes (random pixels do not compress)."""
    import random

    side = 256
    while True:
        rng = random.Random(side)
        image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=100)
        if out.tell() >= bytes_at_least:
            return out.getvalue()
        side *= 2


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        found: dict[int, object] = dict(exif)
        if exif.get_ifd(GPS_IFD):
            found[GPS_IFD] = exif.get_ifd(GPS_IFD)
        return found


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
