"""Sealing a delivery: geo check, canonical digest and the server's signed receipt."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.auth.tokens import Principal
from backend.config import Settings
from backend.db.models import Stop
from backend.domain.clock import utc_text
from backend.domain.digest import (
    ReceiptSigner,
    proof_digest,
    public_key_from_seed,
    sealed_photo_stamps,
)
from backend.domain.events import DoorEvent
from backend.domain.geo import GeoFix, check_geofence
from backend.proofs.pdfsign import PdfSigningKey


@dataclass(frozen=True)
class ProofSealer:
    """Signs receipts and proof PDFs with the active key; publishes every key."""

    signer: ReceiptSigner
    public_keys: dict[str, bytes]
    # One PDF signing key per receipt key, derived from its seed (backend.proofs.pdfsign).
    pdf_keys: dict[str, PdfSigningKey]

    @classmethod
    def from_settings(cls, settings: Settings) -> ProofSealer:
        seeds = {kid: base64.b64decode(seed) for kid, seed in settings.receipt_keys}
        active_kid = settings.receipt_keys[0][0]
        return cls(
            signer=ReceiptSigner(seeds[active_kid], active_kid),
            public_keys={kid: public_key_from_seed(seed) for kid, seed in seeds.items()},
            pdf_keys={kid: PdfSigningKey.from_seed(kid, seed) for kid, seed in seeds.items()},
        )

    def public_keys_b64(self) -> dict[str, str]:
        return {kid: base64.b64encode(key).decode() for kid, key in self.public_keys.items()}

    @property
    def pdf_key(self) -> PdfSigningKey:
        """The key that signs proof PDFs now (the active receipt key's)."""
        return self.pdf_keys[self.signer.key_id]

    def pdf_certificates_pem(self) -> dict[str, str]:
        return {kid: key.certificate_pem() for kid, key in self.pdf_keys.items()}


def proof_fields(stop: Stop, event: DoorEvent, driver_username: str) -> dict[str, Any]:
    """The fields a proof's digest covers: what happened, where, when, by whom."""
    payload = event.payload
    return {
        "event_id": event.id,
        "stop_id": stop.id,
        "order_number": stop.order_number,
        "service_date": stop.service_date.isoformat(),
        "address": stop.address,
        "stop_location": {"lat": stop.lat, "lon": stop.lon},
        "base_version": event.base_version,
        "driver": driver_username,
        "device_id": event.device_id,
        "recorded_at": utc_text(event.recorded_at),
        "hlc": str(event.hlc),
        "recipient_name": payload.get("recipient_name"),
        "geo": payload.get("geo"),
        "scanned_barcodes": list(payload.get("scanned_barcodes") or []),
        "where_left": payload.get("where_left"),
        "age_verified": payload.get("age_verified"),
        **sealed_photo_stamps(payload),
    }


def geo_fix(event: DoorEvent) -> GeoFix | None:
    geo = event.payload.get("geo")
    if not geo:
        return None
    fixed_at = geo.get("fixed_at")
    return GeoFix(
        lat=geo["lat"],
        lon=geo["lon"],
        accuracy_m=geo["accuracy_m"],
        fixed_at=datetime.fromisoformat(fixed_at.replace("Z", "+00:00")) if fixed_at else None,
    )


def seal_delivery(
    sealer: ProofSealer,
    stop: Stop,
    event: DoorEvent,
    principal: Principal,
    threshold_m: int,
    now: datetime,
) -> dict[str, Any]:
    """The proof row for a delivered event: digest, signed receipt and geo check."""
    return seal_deliveries(sealer, [(stop, event)], principal, threshold_m, now)[0]


def seal_deliveries(
    sealer: ProofSealer,
    deliveries: Sequence[tuple[Stop, DoorEvent]],
    principal: Principal,
    threshold_m: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """The proof rows of a batch's deliveries, in order, in one pass.

    What every proof of the batch shares (the driver, the threshold, the time) is read
    once; each delivery then costs its digest, its signature and its geo check. The
    digests and receipts are those ``seal_delivery`` gives one by one, byte for byte
    (tests/sync/test_seal.py pins them).
    """
    username = principal.username
    sign = sealer.signer.sign
    proofs = []
    for stop, event in deliveries:
        fields = proof_fields(stop, event, username)
        hashes = sorted(ref.sha256 for ref in event.evidence)
        digest = proof_digest(fields, hashes)
        geo = check_geofence(geo_fix(event), stop.lat, stop.lon, stop.geofence, threshold_m)
        proofs.append(
            {
                "org_id": stop.org_id,
                "event_id": event.id,
                "stop_id": stop.id,
                "fields": fields,
                "file_hashes": hashes,
                "digest": digest,
                "receipt": sign(digest, now, stop.id, [event.id]).to_dict(),
                "geo_check": geo.to_dict(),
                "created_at": now,
            }
        )
    return proofs
