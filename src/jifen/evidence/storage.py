"""Where evidence photos' bytes are kept: a directory, or an S3-compatible bucket.

Keys are `<sha256>.<ext>` (content-addressed): putting a key that is already stored
does nothing, and nothing is ever overwritten or deleted.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from jifen.config import Settings

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class StoredObjectMissing(Exception):
    """A key the database names is not in the storage (lost, or another storage)."""


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> tuple[bytes, str]: ...


def _content_type_of(key: str) -> str:
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


class DiskStorage:
    """Files under a directory, fanned out by the key's first two characters. A file is
    written to a temporary name, synced, then renamed: a reader never sees half a file."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"not a storage key: {key!r}")
        return self.directory / key[:2] / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, key: str) -> tuple[bytes, str]:
        try:
            return self._path(key).read_bytes(), _content_type_of(key)
        except FileNotFoundError:
            raise StoredObjectMissing(key) from None


class S3Storage:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, Aliyun OSS, Tencent COS...)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        client: Any = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            session = boto3.session.Session()
            if session.get_credentials() is None:
                raise RuntimeError(
                    f"JIFEN_EVIDENCE_S3_BUCKET={bucket} but no AWS credentials were found "
                    "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
                )
            client = session.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                # Bounded waits: a storage that does not answer fails the upload.
                config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
            )
        self.client = client

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import ClientError

        name = self.prefix + key
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type)

    def get(self, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise StoredObjectMissing(key) from None
            raise
        body: bytes = answer["Body"].read()
        return body, str(answer.get("ContentType") or _content_type_of(key))


def from_settings(settings: Settings) -> Storage:
    """The storage the settings name. A bucket without credentials is refused here, when
    the app starts, rather than at the first upload."""
    if settings.evidence_s3_bucket:
        return S3Storage(
            settings.evidence_s3_bucket,
            endpoint_url=settings.evidence_s3_endpoint_url,
            region=settings.evidence_s3_region,
            prefix=settings.evidence_s3_prefix,
        )
    return DiskStorage(settings.evidence_directory)
