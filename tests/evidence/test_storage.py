"""The storage contract, run against a directory and against a real S3-compatible HTTP
server (moto's, on a local port); and the settings that choose between them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import ValidationError

from jifen.config import Settings
from jifen.evidence import storage
from jifen.evidence.storage import DiskStorage, S3Storage, StoredObjectMissing
from jifen.main import create_app

BUCKET = "jifen-evidence-test"
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)


def _s3(endpoint: str) -> S3Storage:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    return S3Storage(BUCKET, endpoint_url=endpoint, region="us-east-1", prefix="evidence/")


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, aws_env: None) -> storage.Storage:
    if request.param == "disk":
        return DiskStorage(tmp_path / "photos")
    return _s3(request.getfixturevalue("s3_endpoint"))


def _key(data: bytes, ext: str = "jpg") -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


def test_what_is_put_is_got_back_with_its_type(store: storage.Storage) -> None:
    data = b"\xff\xd8 not really a jpeg, the storage does not look " + os.urandom(64)
    key = _key(data)
    store.put(key, data, "image/jpeg")
    assert store.get(key) == (data, "image/jpeg")
    png = os.urandom(100)
    store.put(_key(png, "png"), png, "image/png")
    assert store.get(_key(png, "png")) == (png, "image/png")


def test_putting_a_stored_key_again_changes_nothing(store: storage.Storage) -> None:
    data = os.urandom(200)
    key = _key(data)
    store.put(key, data, "image/jpeg")
    store.put(key, b"other bytes under the same key are never written", "image/jpeg")
    assert store.get(key) == (data, "image/jpeg")


def test_a_key_never_stored_is_missing(store: storage.Storage) -> None:
    with pytest.raises(StoredObjectMissing):
        store.get(_key(b"never stored"))


def test_disk_files_are_whole_and_fanned_out(tmp_path: Path) -> None:
    store = DiskStorage(tmp_path / "photos")
    data = os.urandom(1000)
    key = _key(data)
    store.put(key, data, "image/jpeg")
    path = tmp_path / "photos" / key[:2] / key
    assert path.read_bytes() == data
    # No temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == [key]
    with pytest.raises(ValueError):
        store.put("../escape.jpg", data, "image/jpeg")


def test_s3_objects_carry_the_prefix_and_type(s3_endpoint: str, aws_env: None) -> None:
    store = _s3(s3_endpoint)
    data = os.urandom(50)
    key = _key(data, "webp")
    store.put(key, data, "image/webp")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    head = client.head_object(Bucket=BUCKET, Key=f"evidence/{key}")
    assert head["ContentType"] == "image/webp"
    assert head["ContentLength"] == 50


def test_the_settings_choose_the_storage(tmp_path: Path, aws_env: None, s3_endpoint: str) -> None:
    disk = storage.from_settings(Settings(evidence_dir=str(tmp_path / "e")))
    assert isinstance(disk, DiskStorage)
    assert disk.directory == tmp_path / "e"
    beside = storage.from_settings(Settings(database_url=f"sqlite:///{tmp_path}/v/jifen.db"))
    assert isinstance(beside, DiskStorage)
    assert beside.directory == tmp_path / "v" / "evidence"
    s3 = storage.from_settings(
        Settings(
            evidence_s3_bucket=BUCKET,
            evidence_s3_endpoint_url=s3_endpoint,
            evidence_s3_region="us-east-1",
        )
    )
    assert isinstance(s3, S3Storage)
    assert s3.bucket == BUCKET


@pytest.mark.parametrize(
    "half",
    [
        {"evidence_s3_endpoint_url": "http://127.0.0.1:9000"},
        {"evidence_s3_region": "cn-north-1"},
        {"evidence_s3_bucket": "b", "evidence_dir": "/srv/jifen/evidence"},
    ],
)
def test_a_half_configured_s3_is_refused_at_startup(half: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="JIFEN_EVIDENCE_"):
        Settings(**half)  # type: ignore[arg-type]


def test_a_bucket_without_credentials_stops_the_app_from_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (*_AWS_ENV, "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = Settings(database_url=f"sqlite:///{tmp_path}/jifen.db", evidence_s3_bucket=BUCKET)
    with pytest.raises(RuntimeError, match="no AWS credentials"):
        create_app(settings)
