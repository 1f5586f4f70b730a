"""Evidence files: which the server still needs, receiving them, verifying them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import IO, Protocol

from flask import Flask, current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend import clock
from backend.config import Settings
from backend.db.models import EvidenceFile
from backend.evidence.images import IMAGE_TOO_LARGE, MAX_PIXELS, ImageRefused, check_image
from backend.evidence.storage import (
    EvidenceStore,
    LocalStore,
    S3Store,
    StoreError,
    StoreUnavailable,
    UploadTarget,
)


def build_store(settings: Settings) -> EvidenceStore:
    if settings.storage_backend == "s3":
        return S3Store(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return LocalStore(settings.storage_dir)


def init_app(app: Flask, store: EvidenceStore | None = None) -> None:
    app.extensions["doorstep.store"] = store or build_store(app.config["DOORSTEP"])


def get_store() -> EvidenceStore:
    store: EvidenceStore = current_app.extensions["doorstep.store"]
    return store


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
        session.execute(insert(EvidenceFile), missing)


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
        return exc.reason
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
