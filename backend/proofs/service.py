"""A stop's proof as back office and support see it: the bundle, whether it verifies,
the customer's PDF and the map. One place, used by the API and the console alike."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import Proof, Stop
from backend.domain.digest import verify_bundle
from backend.domain.refusal import not_found
from backend.evidence.storage import EvidenceStore, StoreError, StoreUnavailable
from backend.proofs.bundle import build_bundle
from backend.proofs.document import render_proof_pdf
from backend.proofs.map import render_map
from backend.proofs.pdfsign import sign_pdf
from backend.sync.derive import winning_event_id
from backend.sync.seal import ProofSealer


def find_stop(session: Session, stop_id: int) -> Stop:
    stop = session.get(Stop, stop_id)
    if stop is None:
        raise not_found("stop")
    return stop


def stop_bundle(session: Session, stop: Stop, sealer: ProofSealer, host_url: str) -> dict[str, Any]:
    return build_bundle(session, stop, sealer.public_keys_b64(), host_url.rstrip("/"))


@dataclass(frozen=True)
class Verification:
    """What checking a stop's proof found.

    ``problems`` say the proof does not verify; ``unreadable`` lists files the store
    could not give back right now (unreachable), whose bytes are therefore unchecked:
    a passing outage must not read as tampered or missing evidence.
    """

    problems: list[str]
    unreadable: list[str]


def _read_held(store: EvidenceStore, org_id: int, sha256: str) -> bytes | None:
    """A held file's bytes; None if the store no longer has them (missing).

    Raises StoreUnavailable when the store cannot be reached.
    """
    try:
        return b"".join(store.open(org_id, sha256))
    except StoreUnavailable:
        raise
    except StoreError:
        return None


def verify_stop_proof(bundle: dict[str, Any], org_id: int, store: EvidenceStore) -> Verification:
    """What ``doorstep verify --files`` would say of this bundle, read from the store.

    A purged file is not a problem: retention deleted it on purpose, and its hash still
    holds the proof together.
    """
    keys = {kid: base64.b64decode(key) for kid, key in bundle["public_keys"].items()}
    held: dict[str, bytes] = {}
    unreadable: list[str] = []
    for item in bundle["files"]:
        # An invalid file's bytes are held too: its hash is checked like any other, and
        # verify_bundle names it as no proof.
        held_bytes = item["verified"] or item.get("invalid_reason")
        if not held_bytes or item["purged"]:
            continue
        try:
            data = _read_held(store, org_id, item["sha256"])
        except StoreUnavailable:
            unreadable.append(item["sha256"])
            continue
        if data is not None:
            held[item["sha256"]] = data
    excused = {f"file {sha} is missing" for sha in unreadable} | {
        f"file {f['sha256']} is missing" for f in bundle["files"] if f["purged"]
    }
    problems = verify_bundle(bundle, keys, held)
    return Verification([p for p in problems if p not in excused], unreadable)


def proof_pdf(
    session: Session, stop: Stop, store: EvidenceStore, sealer: ProofSealer, host_url: str
) -> bytes:
    """The customer's proof-of-delivery document, PAdES-signed with the server's key.

    An unreachable store is a 503 to retry, never a document quietly missing its photos.
    Only files that verified as the image they claim are read; anything else is a line
    of text, never decoded.
    """
    bundle = stop_bundle(session, stop, sealer, host_url)
    verified = {f["sha256"] for f in bundle["files"] if f["verified"] and not f["purged"]}

    def file_bytes(sha256: str) -> bytes | None:
        if sha256 not in verified:
            return None
        try:
            return _read_held(store, stop.org_id, sha256)
        except StoreUnavailable as exc:
            exc.retry_after_s = 5
            raise

    # Signed over the whole file, so an edited page fails in any PDF reader too.
    return sign_pdf(render_proof_pdf(bundle, file_bytes), sealer.pdf_key, clock.now())


def pdf_filename(stop: Stop) -> str:
    return f"proof-{stop.order_number}.pdf"


def proof_map_svg(session: Session, stop: Stop) -> str:
    """Where the stop's proof was captured against the stop and its geofence."""
    winner = winning_event_id(session, stop)
    proof = (
        session.scalars(select(Proof).where(Proof.event_id == winner)).one_or_none()
        if winner
        else None
    )
    return render_map(
        stop.lat,
        stop.lon,
        stop.geofence,
        proof.fields.get("geo") if proof else None,
        proof.geo_check if proof else None,
        stop.order_number,
    )
