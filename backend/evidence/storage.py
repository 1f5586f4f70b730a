"""Where evidence bytes live: one small interface, a local folder and S3.

Keys are content-addressed per tenant (``org/<org id>/sha256/<hash>``): no client ever
chooses a name, so there is nothing to traverse, and a file the store already holds
is never uploaded twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from backend.domain.clock import system_now, utc_text
from backend.domain.digest import is_sha256_hex
from backend.domain.refusal import Refusal

CHUNK = 64 * 1024
ALLOWED_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


class StoreError(Refusal):
    """The store refused or failed."""


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
            body["expires_at"] = utc_text(self.expires_at)
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

    def _partial_path(self, org_id: int, sha256: str) -> Path:
        # Beside the published files, never under their names: a partial file is not
        # evidence until its hash matches.
        return self.root / f"org/{int(org_id)}/partial" / Path(object_key(org_id, sha256)).name

    def receive(
        self, org_id: int, sha256: str, stream: IO[bytes], size: int, now: datetime | None = None
    ) -> None:
        """Receive a whole file in one body; see :meth:`receive_range`."""
        complete = self.receive_range(org_id, sha256, size, 0, size, stream, now or system_now())
        if not complete:  # pragma: no cover - a whole body either completes or raises
            raise StoreError("size_mismatch", f"received fewer than {size} bytes")

    def partial_offset(self, org_id: int, sha256: str) -> int:
        """How many bytes of an unfinished upload the store holds (0 if none).

        Waits for an upload of this file that is still being received, so the answer
        counts every byte it wrote.
        """
        path = self._partial_path(org_id, sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return 0
        with handle:
            _lock(handle)
            if not _still_at(handle, path):
                return 0  # published or removed while we waited: nothing partial is held
            return os.fstat(handle.fileno()).st_size

    def receive_range(
        self,
        org_id: int,
        sha256: str,
        size: int,
        start: int,
        length: int,
        stream: IO[bytes],
        now: datetime,
    ) -> bool:
        """Write bytes ``start`` to ``start + length`` of a ``size``-byte file; True once
        the file is complete, matches ``sha256`` and is published.

        Bytes go to a per-tenant, per-hash partial file and stay there when the
        connection breaks, so the device can resume from :meth:`partial_offset`. A
        ``start`` before the held offset overwrites from there (the bytes are the same
        ones, or the final hash check refuses them); a ``start`` after it would leave a
        hole: StoreError ``upload_offset_mismatch``. The complete file is fsynced, hashed
        and only then renamed into place; bytes that do not match are deleted, so the
        next attempt starts over. The partial's mtime is set to ``now`` (the server's
        clock) after each write: :meth:`remove_stale_partials` tells age by it.
        """
        final = self._path(org_id, sha256)
        partial = self._partial_path(org_id, sha256)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("a+b") as handle:
            _lock(handle)
            if not _still_at(handle, partial):
                # Another upload published (or the cleanup removed) it while we waited.
                if final.is_file():
                    return True
                raise UploadInProgress()
            held = os.fstat(handle.fileno()).st_size
            if start > held:
                raise UploadOffsetMismatch(held)
            handle.truncate(start)
            received = 0
            try:
                while chunk := stream.read(CHUNK):
                    received += len(chunk)
                    if received > length:
                        raise StoreError("size_mismatch", f"the body is longer than {length} bytes")
                    # Append mode: every write lands at the end, which is ``start + received``.
                    handle.write(chunk)
            finally:
                # Bytes that arrived before a cut are kept for the next attempt.
                handle.flush()
                os.fsync(handle.fileno())
                os.utime(handle.fileno(), (now.timestamp(), now.timestamp()))
            if received != length:
                raise StoreError(
                    "size_mismatch", f"received {received} bytes, Content-Length was {length}"
                )
            if start + received < size:
                return False
            handle.seek(0)
            actual, actual_size = hash_stream(iter(lambda: handle.read(CHUNK), b""))
            if (actual, actual_size) != (sha256, size):
                partial.unlink(missing_ok=True)
                raise StoreError("hash_mismatch", "the bytes do not hash to the declared SHA-256")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, final)
            _fsync_dir(final.parent)
            return True

    def remove_stale_partials(self, untouched_since: datetime) -> list[Path]:
        """Delete partial uploads last written before ``untouched_since`` (a device that
        never came back); one still being received is skipped."""
        removed: list[Path] = []
        # Also the temporary files of the earlier, non-resumable uploads (".upload-*"
        # beside the evidence) that a killed worker left behind.
        leftovers = [*self.root.glob("org/*/partial/*"), *self.root.glob("org/*/sha256/.upload-*")]
        for path in sorted(leftovers):
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue
            with handle:
                if not _try_lock(handle) or not _still_at(handle, path):
                    continue
                if os.fstat(handle.fileno()).st_mtime < untouched_since.timestamp():
                    path.unlink()
                    removed.append(path)
        return removed

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


class UploadOffsetMismatch(StoreError):
    """A ranged upload started past the bytes the store holds; ``offset`` is that count."""

    def __init__(self, offset: int) -> None:
        super().__init__(
            "upload_offset_mismatch", f"the server holds {offset} bytes; continue from there"
        )
        self.offset = offset


class UploadInProgress(StoreError):
    """Another request is writing this file's partial upload; try again shortly."""

    def __init__(self) -> None:
        super().__init__("upload_in_progress", "this file is being uploaded by another request")


# How long a request waits for another upload of the same file to let go of it. The
# other one is usually a connection that just broke and is being wound up.
LOCK_WAIT_S = 5.0


def _try_lock(handle: IO[bytes]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock(handle: IO[bytes]) -> None:
    """Lock a partial file against every other upload of it (threads and processes);
    released when ``handle`` closes."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while not _try_lock(handle):
        if time.monotonic() > deadline:
            raise UploadInProgress()
        time.sleep(0.05)


def _still_at(handle: IO[bytes], path: Path) -> bool:
    """Whether ``path`` still names the file ``handle`` has open (it may have been
    published or removed by whoever held the lock before)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


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
