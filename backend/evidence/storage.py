"""Where evidence bytes live: one small interface, a local folder and S3.

Keys are content-addressed per tenant (``org/<org id>/sha256/<hash>``): no client ever
chooses a name, so there is nothing to traverse, and a file the store already holds
is never uploaded twice.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from backend.domain.clock import system_now
from backend.domain.digest import is_sha256_hex

CHUNK = 64 * 1024
ALLOWED_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
MAX_FILE_BYTES = 20 * 1024 * 1024


class StoreError(Exception):
    """The store refused or failed; ``code`` is the API error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StoreUnavailable(StoreError):
    """The store could not be reached; the caller should keep the file pending."""


@dataclass(frozen=True)
class UploadTarget:
    """How a device uploads one file: an HTTP request it can make without asking us."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # Form fields for a multipart POST (S3 presigned POST); empty for a raw PUT.
    fields: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"method": self.method, "url": self.url, "headers": self.headers}
        if self.fields:
            body["fields"] = self.fields
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at.isoformat().replace("+00:00", "Z")
        return body


def object_key(org_id: int, sha256: str) -> str:
    if not is_sha256_hex(sha256):
        raise StoreError("invalid_sha256", "a file is named by its lowercase hex SHA-256")
    return f"org/{int(org_id)}/sha256/{sha256}"


class EvidenceStore(Protocol):
    def exists(self, org_id: int, sha256: str) -> bool: ...

    def verify(self, org_id: int, sha256: str, size: int) -> bool:
        """True only if the stored bytes have this size and hash to ``sha256``."""
        ...

    def open(self, org_id: int, sha256: str) -> Iterator[bytes]: ...

    def upload_target(
        self, org_id: int, sha256: str, content_type: str, size: int, api_base: str
    ) -> UploadTarget: ...

    def delete(self, org_id: int, sha256: str) -> None:
        """Remove the bytes (retention); deleting a missing file is not an error."""
        ...


def hash_stream(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class LocalStore:
    """Files in a local folder; uploads go through the API (``PUT /evidence/<hash>``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, org_id: int, sha256: str) -> Path:
        return self.root / object_key(org_id, sha256)

    def exists(self, org_id: int, sha256: str) -> bool:
        return self._path(org_id, sha256).is_file()

    def verify(self, org_id: int, sha256: str, size: int) -> bool:
        path = self._path(org_id, sha256)
        if not path.is_file():
            return False
        actual, actual_size = hash_stream(self.open(org_id, sha256))
        return actual == sha256 and actual_size == size

    def open(self, org_id: int, sha256: str) -> Iterator[bytes]:
        path = self._path(org_id, sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise StoreError("file_missing", "the file is not in the store") from exc
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def receive(self, org_id: int, sha256: str, stream: IO[bytes], size: int) -> None:
        """Stream an upload to disk, check its size and hash, and publish it atomically.

        The bytes go to a temporary file in the same folder, are fsynced, and are
        renamed into place only when they match: a cut connection or a wrong hash
        leaves nothing behind under the real name.
        """
        final = self._path(org_id, sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        received = 0
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    received += len(chunk)
                    if received > size:
                        raise StoreError("size_mismatch", f"the body is longer than {size} bytes")
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            if received != size:
                raise StoreError(
                    "size_mismatch", f"received {received} bytes, the event declared {size}"
                )
            if digest.hexdigest() != sha256:
                raise StoreError("hash_mismatch", "the bytes do not hash to the declared SHA-256")
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def delete(self, org_id: int, sha256: str) -> None:
        self._path(org_id, sha256).unlink(missing_ok=True)

    def upload_target(
        self, org_id: int, sha256: str, content_type: str, size: int, api_base: str
    ) -> UploadTarget:
        return UploadTarget(
            method="PUT",
            url=f"{api_base}/api/v1/evidence/{sha256}",
            headers={"Content-Type": content_type, "Authorization": "Bearer <access token>"},
        )


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Store:
    """Files in an S3 bucket (or any S3-compatible store); devices upload directly.

    Uploads use presigned POST policies, which S3 enforces: exact content type, a
    content-length range of exactly the declared size, and an expiry. The server then
    re-reads the object and checks its hash before the file counts (``verify``).
    """

    UPLOAD_TTL = timedelta(minutes=30)

    def __init__(self, bucket: str, endpoint_url: str | None, region: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=3,
                read_timeout=10,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise StoreError("file_missing", "the file is not in the store") from exc
            raise StoreUnavailable("store_unavailable", f"the file store failed: {code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable("store_unavailable", "the file store is unreachable") from exc

    def exists(self, org_id: int, sha256: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=object_key(org_id, sha256))
        except StoreUnavailable:
            raise
        except StoreError:
            return False
        return True

    def verify(self, org_id: int, sha256: str, size: int) -> bool:
        try:
            actual, actual_size = hash_stream(self.open(org_id, sha256))
        except StoreUnavailable:
            raise
        except StoreError:
            return False
        return actual == sha256 and actual_size == size

    def open(self, org_id: int, sha256: str) -> Iterator[bytes]:
        obj = self._call(self.client.get_object, Bucket=self.bucket, Key=object_key(org_id, sha256))
        body = obj["Body"]
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    def upload_target(
        self, org_id: int, sha256: str, content_type: str, size: int, api_base: str
    ) -> UploadTarget:
        # botocore signs the policy by the machine's clock, so its expiry is told by it too.
        expires_at = system_now() + self.UPLOAD_TTL
        post = self._call(
            self.client.generate_presigned_post,
            Bucket=self.bucket,
            Key=object_key(org_id, sha256),
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", size, size],
            ],
            ExpiresIn=int(self.UPLOAD_TTL.total_seconds()),
        )
        return UploadTarget(
            method="POST", url=post["url"], fields=dict(post["fields"]), expires_at=expires_at
        )

    def delete(self, org_id: int, sha256: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=object_key(org_id, sha256))

    def download_url(self, org_id: int, sha256: str, ttl_s: int = 900) -> str:
        url: str = self._call(
            self.client.generate_presigned_url,
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": object_key(org_id, sha256)},
            ExpiresIn=ttl_s,
        )
        return url

    def put_bytes(self, org_id: int, sha256: str, data: bytes, content_type: str) -> None:
        """Store bytes directly (used by tests and by the server-proxied upload path)."""
        self._call(
            self.client.put_object,
            Bucket=self.bucket,
            Key=object_key(org_id, sha256),
            Body=data,
            ContentType=content_type,
        )
