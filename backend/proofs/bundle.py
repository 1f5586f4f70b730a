"""Build the evidence bundle for a stop.

Shape (``bundle_version`` 1)::

    {
      "bundle_version": 1,
      "stop": {...the stop as drivers see it, plus "driver"...},
      "status": "delivered",
      "evidence_pending": false,
      "proof": {"fields": {...}, "files": [{"sha256", "kind", "content_type", "size"}],
                "digest": "<sha256 hex>", "geo_check": {...}},
      "receipt": {"alg": "Ed25519", "kid", "digest", "issued_at", "stop_id",
                  "event_ids", "signature"},
      "other_proofs": [{"proof": {...}, "receipt": {...}}, ...],
      "events": [...every report the server holds for the stop, as received...],
      "files": [{"sha256", "kind", "content_type", "size", "verified", "invalid_reason",
                 "purged", "url"}],
      "conflicts": [...],
      "devices": [{"device_id", "revoked_at"}],
      "public_keys": {"<kid>": "<Ed25519 public key, base64>"}
    }

A file is ``verified`` once its bytes match its hash and decode as the image type it
was declared as. Bytes that match but are no such image are kept and named by
``invalid_reason`` (``not_an_image``, ``image_too_large``), in ``files`` and in the
proof's own file list; they never count as proof and never verify.

``proof`` is the delivery the stop's status rests on; ``other_proofs`` are any other
delivery reports (conflicting ones included: evidence is never dropped). The public
keys are included for convenience only: ``doorstep verify --keys`` pins them.

``devices`` are the devices that sent the events, each with when an admin last revoked
it (null if never). An event recorded before that moment and received after it was
captured on the device before it was revoked and delivered after a fresh login: it
counts (evidence is never discarded) and says so with ``device_revoked_in_between``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin.devices import revocations, revoked_in_between
from backend.db.models import (
    Conflict,
    DoorEventRow,
    EvidenceFile,
    Manifest,
    Parcel,
    Proof,
    Stop,
    User,
)
from backend.domain.clock import utc_text
from backend.manifests.serialize import stop_to_dict
from backend.sync.derive import winning_event_id
from backend.sync.service import conflict_to_dict

BUNDLE_VERSION = 1


def event_to_dict(row: DoorEventRow) -> dict[str, Any]:
    return {
        "id": row.event_id,
        "stop_id": row.stop_id,
        "type": row.type,
        "device_id": row.device_key,
        "driver_id": row.driver_id,
        "recorded_at": utc_text(row.recorded_at),
        "received_at": utc_text(row.received_at),
        "hlc": row.hlc,
        "base_version": row.base_version,
        "payload": row.payload,
        "evidence": row.evidence,
        "clock_skew_ms": row.clock_skew_ms,
        "result": row.result,
        "result_code": row.result_code,
    }


def _proof_section(proof: Proof, kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "proof": {
            "fields": proof.fields,
            "files": [kinds[sha] for sha in proof.file_hashes if sha in kinds],
            "digest": proof.digest,
            "geo_check": proof.geo_check,
        },
        "receipt": proof.receipt,
    }


def build_bundle(
    session: Session, stop: Stop, public_keys: dict[str, str], api_base: str
) -> dict[str, Any]:
    events = list(
        session.scalars(
            select(DoorEventRow)
            .where(DoorEventRow.stop_id == stop.id)
            .order_by(DoorEventRow.hlc, DoorEventRow.event_id)
        )
    )
    proofs = {p.event_id: p for p in session.scalars(select(Proof).where(Proof.stop_id == stop.id))}
    refs: dict[str, dict[str, Any]] = {}
    for row in events:
        for ref in row.evidence:
            refs.setdefault(ref["sha256"], dict(ref))
    files = (
        {
            f.sha256: f
            for f in session.scalars(select(EvidenceFile).where(EvidenceFile.sha256.in_(refs)))
        }
        if refs
        else {}
    )
    parcels = session.scalars(select(Parcel).where(Parcel.stop_id == stop.id)).all()
    driver = None
    if stop.manifest_id is not None:
        driver = session.scalar(
            select(User.username)
            .join(Manifest, Manifest.driver_id == User.id)
            .where(Manifest.id == stop.manifest_id)
        )
    winner = winning_event_id(session, stop)
    conflicts = session.scalars(
        select(Conflict).where(Conflict.stop_id == stop.id).order_by(Conflict.id)
    ).all()
    device_keys = sorted({row.device_key for row in events})
    revoked = revocations(session, device_keys)
    invalid = {sha: f.invalid_reason for sha, f in files.items() if f.invalid_reason}
    # A proof names its invalid files itself, so a PDF's proof.json carries it too.
    cited = {
        sha: {**ref, "invalid_reason": invalid[sha]} if sha in invalid else ref
        for sha, ref in refs.items()
    }
    main = proofs.get(winner) if winner else None
    others = [
        _proof_section(p, cited) for event_id, p in sorted(proofs.items()) if event_id != winner
    ]
    pending = [sha for sha in refs if sha not in files or files[sha].verified_at is None]
    bundle: dict[str, Any] = {
        "bundle_version": BUNDLE_VERSION,
        "stop": {**stop_to_dict(stop, parcels), "driver": driver},
        "status": stop.status.value,
        "evidence_pending": bool(pending),
        "events": [
            {**event_to_dict(row), "device_revoked_in_between": revoked_in_between(row, revoked)}
            for row in events
        ],
        "files": [
            {
                **ref,
                # Verified means the bytes match the hash AND are the image declared.
                "verified": sha in files
                and files[sha].verified_at is not None
                and sha not in invalid,
                "invalid_reason": invalid.get(sha),
                "purged": sha in files and files[sha].purged_at is not None,
                "url": f"{api_base}/api/v1/evidence/{sha}",
            }
            for sha, ref in refs.items()
        ],
        "other_proofs": others,
        "conflicts": [conflict_to_dict(c) for c in conflicts],
        "devices": [
            {"device_id": key, "revoked_at": utc_text(revoked.get(key))} for key in device_keys
        ],
        "public_keys": public_keys,
    }
    if main is not None:
        bundle.update(_proof_section(main, cited))
    return bundle
