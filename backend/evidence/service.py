"""Evidence files: which the server still needs, receiving them, verifying them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend import clock
from backend.config import Settings
from backend.db.models import EvidenceFile
from backend.db.session import begin_write
from backend.domain.digest import is_sha256_hex
from backend.domain.refusal import Refusal
from backend.evidence.images import IMAGE_TOO_LARGE, MAX_PIXELS, ImageRefused, check_image
from backend.evidence.storage import (
    EvidenceStore,
    LocalStore,
    S3Store,
    StoreError,
    StoreUnavailable,
    UploadTarget,
)
from backend.sync.settle import settle_stops_citing


def build_store(settings: Settings) -> EvidenceStore:
    if settings.storage_backend == "s3":
        return S3Store(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return LocalStore(settings.storage_dir)


def find_file(session: Session, sha256: str) -> EvidenceFile | None:
    return session.scalars(select(EvidenceFile).where(EvidenceFile.sha256 == sha256)).one_or_none()


def register_files(session: Session, org_id: int, refs: Iterable[tuple[str, str, int]]) -> None:
    """Make sure a row exists for each referenced (sha256, content type, size)."""
    wanted = {sha: (content_type, size) for sha, content_type, size in refs}
    if not wanted:
        return
    known = set(session.scalars(select(EvidenceFile.sha256).where(EvidenceFile.sha256.in_(wanted))))
    missing = [
        {
            "org_id": org_id,
            "sha256": sha,
            "content_type": content_type,
            "size": size,
            "created_at": clock.now(),
        }
        for sha, (content_type, size) in sorted(wanted.items())
        if sha not in known
    ]
    if missing:
        # Syncs of one tenant run side by side: another may register the same file
        # between the read above and this insert. Its row is as good as ours.
        dialect = session.get_bind().dialect.name
        dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            dialect_insert(EvidenceFile).on_conflict_do_nothing(
                index_elements=["org_id", "sha256"]
            ),
            missing,
        )


def inspect_image(store: EvidenceStore, org_id: int, sha256: str, content_type: str) -> str | None:
    """Decode stored bytes once as their declared type: why they are not a valid image,
    or None. Touches no database row, so it runs outside any transaction (a decode can
    take a while; no writer should wait for it).

    Raises StoreUnavailable when the bytes cannot be read back: the file stays pending.
    """
    try:
        data = b"".join(store.open(org_id, sha256))
    except StoreUnavailable:
        raise
    except StoreError as exc:
        raise StoreUnavailable("store_unavailable", "the stored file vanished") from exc
    try:
        check_image(data, content_type)
    except ImageRefused as exc:
        return exc.code
    return None


def receive_upload(
    store: LocalStore,
    org_id: int,
    sha256: str,
    size: int,
    start: int,
    length: int,
    stream: IO[bytes],
) -> bool:
    """Store bytes ``start`` to ``start + length`` of an upload; True once the file is
    complete, ``size`` bytes hashing to ``sha256``, and published (see
    :meth:`LocalStore.receive_range`: bytes before a cut are kept for a resume).

    Touches no database row, so callers can (and the upload route does) run it outside
    any transaction; :func:`mark_verified` records the result afterwards.
    """
    return store.receive_range(org_id, sha256, size, start, length, stream, clock.now())


def mark_verified(file: EvidenceFile, invalid_reason: str | None) -> bool:
    """Record that the store holds ``file``'s bytes, and whether they are a valid image
    (see :func:`inspect_image`); False if that was already recorded.

    Whatever the outcome the bytes are kept (evidence is never discarded); an invalid
    file is verified but carries ``invalid_reason`` and is never decoded again.
    """
    if file.verified_at is not None:
        return False
    file.invalid_reason = invalid_reason
    file.verified_at = clock.now()
    return True


def confirm_upload(session: Session, store: EvidenceStore, file: EvidenceFile) -> bool:
    """Check the stored object (after a direct upload) and mark it verified if it matches.

    Raises StoreUnavailable when the store cannot be reached: the file stays pending.
    """
    if file.verified_at is not None:
        return True
    if not store.verify(file.org_id, file.sha256, file.size):
        return False
    mark_verified(file, inspect_image(store, file.org_id, file.sha256, file.content_type))
    return True


def refusal(file: EvidenceFile) -> tuple[str, str] | None:
    """The (code, message) an upload of this verified file is answered 422 with, if any."""
    if file.invalid_reason is None:
        return None
    if file.invalid_reason == IMAGE_TOO_LARGE:
        message = (
            f"the image has more than {MAX_PIXELS} pixels; its bytes are kept as evidence "
            "but were not decoded and do not count as proof"
        )
    else:
        message = (
            f"the bytes do not decode as {file.content_type}; they are kept as evidence "
            "but do not count as proof"
        )
    return file.invalid_reason, message


class FileFacts(Protocol):
    org_id: int
    sha256: str
    content_type: str
    size: int
    verified_at: datetime | None


def upload_targets(
    store: EvidenceStore, files: Iterable[FileFacts], api_base: str
) -> list[dict[str, object]]:
    """Upload instructions for every file not yet verified; store failures are skipped."""
    targets: list[dict[str, object]] = []
    for file in files:
        if file.verified_at is not None:
            continue
        try:
            target: UploadTarget = store.upload_target(
                file.org_id, file.sha256, file.content_type, file.size, api_base
            )
        except StoreUnavailable:
            # The events are already safe; the device will be asked again next sync.
            continue
        except StoreError:
            continue
        targets.append(
            {
                "sha256": file.sha256,
                "content_type": file.content_type,
                "size": file.size,
                **target.to_dict(),
            }
        )
    return targets


# The upload workflow, as the API runs it. Each step answers with an UploadState or
# raises a Refusal; the route only reads the request and writes the response.


@dataclass(frozen=True)
class UploadState:
    """Where one file's upload stands: verified, or ``offset`` bytes held so far."""

    sha256: str
    size: int
    verified: bool
    offset: int


@dataclass(frozen=True)
class ByteRange:
    """``Content-Range: bytes start-end/total`` as sent (``end`` inclusive)."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @classmethod
    def parse(cls, header: str | None) -> ByteRange | None:
        """The range a body claims, or None (no header) for the whole file."""
        if header is None:
            return None
        match = CONTENT_RANGE.fullmatch(header.strip())
        if match is None:
            raise Refusal("invalid_content_range", "send Content-Range: bytes start-end/size")
        start, end, total = (int(group) for group in match.groups())
        if not start <= end < total:
            raise Refusal("invalid_content_range", f"bytes {start}-{end} are not in the file")
        return cls(start, end, total)


CONTENT_RANGE = re.compile(r"bytes (\d{1,12})-(\d{1,12})/(\d{1,12})")


def referenced_file(session: Session, sha256: str) -> EvidenceFile:
    """The file of the caller's tenant that an event referenced, or a refusal."""
    if not is_sha256_hex(sha256):
        raise Refusal("not_found", "files are named by their lowercase hex SHA-256")
    file = find_file(session, sha256)
    if file is None:
        raise Refusal("file_not_referenced", "no event references a file with this hash")
    return file


def _local(store: EvidenceStore) -> LocalStore:
    if not isinstance(store, LocalStore):
        raise Refusal("upload_direct_to_store", "upload to the target the sync response gave")
    return store


def _body_start(size: int, length: int, byte_range: ByteRange | None) -> int:
    """Where in the file a body of ``length`` bytes starts; refused unless the body is
    exactly the bytes it claims to be."""
    if byte_range is None:
        if length != size:
            raise Refusal(
                "size_mismatch", f"the event declared {size} bytes, Content-Length is {length}"
            )
        return 0
    if byte_range.total != size:
        raise Refusal("size_mismatch", f"the event declared {size} bytes, not {byte_range.total}")
    if length != byte_range.length:
        raise Refusal(
            "size_mismatch",
            f"bytes {byte_range.start}-{byte_range.end} are {byte_range.length} bytes, "
            f"not {length}",
        )
    return byte_range.start


def _settled(session: Session, file: EvidenceFile) -> UploadState:
    """Commit and answer for a verified file; an invalid image is refused (committed,
    so asking again gives the same answer without decoding anything again)."""
    refused = refusal(file)
    session.commit()
    if refused is not None:
        raise Refusal(*refused)
    return UploadState(file.sha256, file.size, verified=True, offset=file.size)


def receive(
    session: Session,
    store: EvidenceStore,
    sha256: str,
    content_type: str,
    length: int | None,
    content_range: str | None,
    body: IO[bytes],
) -> UploadState:
    """Receive a file's bytes, whole or from where a broken upload stopped.

    The body is streamed to a partial file, and only once the file is complete and
    matches the size and SHA-256 the event declared is it published; a cut connection
    keeps the bytes received for a resume and leaves the file pending. The published
    bytes are then decoded once as their declared image type. Uploading a file the
    server already holds is a no-op.
    """
    file = referenced_file(session, sha256)
    if file.verified_at is not None:
        return _settled(session, file)
    local = _local(store)
    if content_type != file.content_type:
        raise Refusal(
            "content_type_mismatch",
            f"the event declared {file.content_type}, the body is {content_type}",
        )
    if length is None:
        raise Refusal("length_required", "send the body with a Content-Length")
    start = _body_start(file.size, length, ByteRange.parse(content_range))
    org_id, size = file.org_id, file.size
    # The body can take minutes over a phone network: it is received with no
    # transaction open, so no writer waits for it (on SQLite, a write transaction held
    # meanwhile would stall every sync). Two uploads of the same file at once take
    # turns on its partial file, and only bytes that match the hash are published.
    session.rollback()
    if not receive_upload(local, org_id, sha256, size, start, length, body):
        return UploadState(sha256, size, verified=False, offset=start + length)
    invalid_reason = inspect_image(local, org_id, sha256, content_type)
    begin_write(session)
    file = referenced_file(session, sha256)
    if mark_verified(file, invalid_reason):
        settle_stops_citing(session, org_id, sha256)
    return _settled(session, file)


def upload_state(session: Session, store: EvidenceStore, sha256: str) -> UploadState:
    """How many bytes of this file the server holds (its size once it has verified)."""
    file = referenced_file(session, sha256)
    if file.verified_at is not None:
        return UploadState(sha256, file.size, verified=True, offset=file.size)
    local = _local(store)
    org_id, size = file.org_id, file.size
    session.rollback()  # the count may wait for a request that is still writing
    return UploadState(sha256, size, verified=False, offset=local.partial_offset(org_id, sha256))


def confirm(session: Session, store: EvidenceStore, sha256: str) -> UploadState:
    """A direct upload (S3) finished: re-read and check the bytes, then settle."""
    begin_write(session)
    file = referenced_file(session, sha256)
    if file.verified_at is not None:
        return _settled(session, file)
    if not confirm_upload(session, store, file):
        raise Refusal(
            "file_not_uploaded",
            "the store does not hold bytes with this size and hash; upload again",
        )
    settle_stops_citing(session, file.org_id, sha256)
    return _settled(session, file)


@dataclass(frozen=True)
class OpenedFile:
    """A verified file's bytes, ready to stream: the first chunk is already read, so a
    store failure is a refusal before any byte of the answer is sent."""

    file: EvidenceFile
    first: bytes
    rest: Iterator[bytes]

    @property
    def mimetype(self) -> str:
        # Bytes that are not the image they claim (HTML, SVG, text) go out as opaque bytes.
        if self.file.invalid_reason is None:
            return self.file.content_type
        return "application/octet-stream"


def open_file(session: Session, store: EvidenceStore, sha256: str) -> OpenedFile:
    """A verified evidence file of the caller's tenant, or why not."""
    file = referenced_file(session, sha256)
    if file.verified_at is None:
        raise Refusal("file_missing", "the file has not arrived yet")
    if file.purged_at is not None:
        raise Refusal("file_purged", "the retention job deleted this file")
    chunks = store.open(file.org_id, sha256)
    first = next(chunks, b"")
    return OpenedFile(file, first, chunks)
