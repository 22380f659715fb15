"""Evidence photos over HTTP: upload, limits, metadata stripped, cited by records, and
served only to whom may see a record citing them."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.helpers import ok, problem
from tests.evidence.conftest import Village_, new_id
from tests.evidence.photos import GPS_IFD, MAKE, exif_of, photo, size_of

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def _upload(
    v: Village_,
    data: bytes,
    *,
    place: str = "A",
    headers: dict[str, str] | None = None,
    name: str = "IMG_0001.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    return v.http.post(
        f"/v1/villages/{v.village(place)}/evidence-photos",
        files={"file": (name, data, content_type)},
        headers=headers or v.clerk_a,
    )


def _uploaded(v: Village_, data: bytes, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok(_upload(v, data, **kwargs), 201)
    return answer


def _record(v: Village_, member_id: str, ref: str, *, place: str = "A", headers=None) -> Any:  # type: ignore[no-untyped-def]
    return v.http.post(
        f"/v1/villages/{v.village(place)}/records",
        json={
            "rule_id": "clean_up",
            "member_id": member_id,
            "occurred_at": YESTERDAY,
            "evidence": [
                {"kind": "witness", "ref": "王大妈"},
                {"kind": "photo", "ref": ref, "note": "清扫后"},
            ],
        },
        headers=headers or v.clerk_a,
    )


def _get(v: Village_, photo_id: str, headers: dict[str, str]) -> Any:
    return v.http.get(f"/v1/evidence-photos/{photo_id}", headers=headers)


def _bound(v: Village_, binding_id: str, photo_id: str) -> Any:
    return v.http.get(f"/v1/bindings/{binding_id}/evidence-photos/{photo_id}", headers=v.client)


def test_a_clerk_uploads_a_jpeg_png_or_webp(v: Village_) -> None:
    for fmt, content_type in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        data = photo(fmt, size=(40, 30))
        # The declared type is not believed either way: the bytes decide.
        body = _uploaded(v, data, name="photo.bin", content_type="application/octet-stream")
        assert body["content_type"] == content_type
        assert (body["width"], body["height"]) == (40, 30)
        assert body["ref"] == f"evidence-photo:{body['id']}"
        assert body["village_id"] == v.village("A")
        served = _get(v, body["id"], v.clerk_a)
        assert served.status_code == 200
        assert served.headers["content-type"] == content_type
        assert hashlib.sha256(served.content).hexdigest() == body["sha256"]
        assert len(served.content) == body["size_bytes"]
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["cache-control"].startswith("private")


def test_the_gps_position_and_other_exif_are_gone(v: Village_) -> None:
    data = photo("JPEG", size=(64, 48), orientation=6)
    assert exif_of(data)[GPS_IFD]  # the phone's position is in the upload
    body = _uploaded(v, data)
    stored = _get(v, body["id"], v.clerk_a).content
    exif = exif_of(stored)
    assert GPS_IFD not in exif
    assert MAKE not in exif
    assert exif == {}
    # Turned upright as the EXIF orientation said (rotated a quarter turn) before it went.
    assert size_of(stored) == (48, 64)
    assert (body["width"], body["height"]) == (48, 64)
    png = _uploaded(v, photo("PNG"))
    assert exif_of(_get(v, png["id"], v.clerk_a).content) == {}


def test_a_photo_over_five_mebibytes_is_refused(v: Village_) -> None:
    data = b"\xff\xd8\xff\xe0" + os.urandom(5 * 1024 * 1024)
    body = problem(_upload(v, data), 413, "evidence_photo_too_large")
    assert body["bytes_max"] == 5 * 1024 * 1024


@pytest.mark.parametrize(
    "data",
    [
        "村口水渠清理完毕。\n".encode() * 50,  # a text file renamed IMG_0001.jpg
        b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;",
        photo("JPEG")[:200],  # a truncated JPEG
    ],
)
def test_what_is_not_a_jpeg_png_or_webp_is_refused(v: Village_, data: bytes) -> None:
    problem(_upload(v, data), 415, "evidence_photo_type_refused")


def test_the_same_photo_uploaded_again_is_the_same_photo(v: Village_) -> None:
    data = photo("JPEG", colour=(10, 120, 40))
    first = _uploaded(v, data)
    again = _uploaded(v, data, name="IMG_0001 (1).jpg")
    assert again["id"] == first["id"]
    # With an Idempotency-Key, the retry (a new multipart boundary) answers as the first.
    key = {"Idempotency-Key": f"photo-{new_id()}"}
    other = photo("JPEG", colour=(10, 20, 240))
    keyed = _upload(v, other, headers={**v.clerk_a, **key})
    retried = _upload(v, other, headers={**v.clerk_a, **key})
    assert keyed.status_code == retried.status_code == 201
    assert retried.json()["id"] == keyed.json()["id"]
    assert retried.headers.get("idempotent-replayed") == "true"
    # The same key for another photo is a mistake, not a retry.
    problem(_upload(v, photo("PNG"), headers={**v.clerk_a, **key}), 422, "idempotency_key_reused")


def test_a_record_cites_an_uploaded_photo_and_links_it(v: Village_) -> None:
    uploaded = _uploaded(v, photo())
    # Before a record cites it, only its uploader sees it.
    assert _get(v, uploaded["id"], v.clerk_a).status_code == 200
    problem(_get(v, uploaded["id"], v.clerk_a2), 404, "not_found")
    record = ok(_record(v, v.member_a, uploaded["ref"]), 201)
    # The record lists its evidence as given.
    assert record["evidence"][1] == {"kind": "photo", "ref": uploaded["ref"], "note": "清扫后"}
    read = ok(v.http.get(f"/v1/records/{record['id']}", headers=v.clerk_a2))
    assert read["evidence"] == record["evidence"]
    # Cited: whoever may read the village's records sees it.
    assert _get(v, uploaded["id"], v.clerk_a2).status_code == 200
    # A URL hosted elsewhere is evidence as before.
    ok(_record(v, v.member_a, "https://files.example.cn/p/8812.jpg"), 201)


def test_a_photo_of_another_village_is_refused_naming_the_item(v: Village_) -> None:
    theirs = _uploaded(v, photo(colour=(1, 2, 3)), place="B", headers=v.clerk_b)
    before = ok(v.http.get(f"/v1/villages/{v.village('A')}/records", headers=v.clerk_a))["items"]
    for ref in (theirs["ref"], f"evidence-photo:{new_id()}", "evidence-photo:not-an-id"):
        body = problem(_record(v, v.member_a, ref), 422, "evidence_photo_not_in_village")
        assert body["item"] == 1
        assert body["ref"] == ref
    after = ok(v.http.get(f"/v1/villages/{v.village('A')}/records", headers=v.clerk_a))["items"]
    assert after == before  # nothing was recorded
    # Village B's clerk cites it in B.
    ok(_record(v, v.member_b, theirs["ref"], place="B", headers=v.clerk_b), 201)


def test_only_those_who_may_see_the_record_see_the_photo(v: Village_) -> None:
    mine = _uploaded(v, photo(colour=(90, 90, 9)))
    ok(_record(v, v.member_a, mine["ref"]), 201)
    others = _uploaded(v, photo(colour=(9, 90, 90)))
    ok(_record(v, v.other_member_a, others["ref"]), 201)
    ghost = new_id()
    # The village's staff.
    assert _get(v, mine["id"], v.clerk_a2).status_code == 200
    # Another village's clerk: the 404 of a photo that does not exist.
    seen = problem(_get(v, mine["id"], v.clerk_b), 404, "not_found")
    unseen = problem(_get(v, ghost, v.clerk_b), 404, "not_found")
    assert seen.keys() == unseen.keys()
    # The resident: their own record's photo, not a neighbour's (404, not 403).
    assert _get(v, mine["id"], v.resident).status_code == 200
    problem(_get(v, others["id"], v.resident), 404, "not_found")
    # Through a binding: the bound member's own records only.
    own = _bound(v, v.binding_own, mine["id"])
    assert own.status_code == 200
    assert own.content == _get(v, mine["id"], v.clerk_a).content
    problem(_bound(v, v.binding_own, others["id"]), 404, "not_found")
    problem(_bound(v, v.binding_other, mine["id"]), 404, "not_found")
    assert _bound(v, v.binding_other, others["id"]).status_code == 200
    problem(_bound(v, v.binding_own, ghost), 404, "not_found")
    # Not yet cited: nobody through a binding.
    loose = _uploaded(v, photo(colour=(200, 200, 0)))
    problem(_bound(v, v.binding_own, loose["id"]), 404, "not_found")
    problem(_get(v, loose["id"], v.resident), 404, "not_found")


def test_a_correction_cites_the_photo_too(v: Village_) -> None:
    uploaded = _uploaded(v, photo(colour=(33, 66, 99)))
    record = ok(_record(v, v.member_a, uploaded["ref"]), 201)
    problem(_bound(v, v.binding_other, uploaded["id"]), 404, "not_found")
    corrected = ok(
        v.http.post(
            f"/v1/records/{record['id']}/amendments",
            json={"member_id": v.other_member_a, "reason": "记错了人"},
            headers=v.clerk_a,
        ),
        201,
    )
    assert corrected["evidence"] == record["evidence"]
    # The correction is the other member's record, citing the same photo.
    assert _bound(v, v.binding_other, uploaded["id"]).status_code == 200
    assert _bound(v, v.binding_own, uploaded["id"]).status_code == 200


def test_uploading_needs_the_recorders_permission(v: Village_) -> None:
    data = photo(colour=(5, 5, 5))
    problem(_upload(v, data, headers=v.resident), 403, "forbidden")
    problem(_upload(v, data, headers=v.clerk_b), 404, "not_found")
    problem(
        v.http.post(
            f"/v1/villages/{new_id()}/evidence-photos",
            files={"file": ("a.jpg", data, "image/jpeg")},
            headers=v.clerk_b,
        ),
        404,
        "not_found",
    )
