"""Sealing a batch gives the same bytes as before it was batched, and as one by one.

The expected fingerprints, digests and signatures were computed by the server as it
sealed deliveries one at a time (``seal_delivery``), in digest version 2 (photo
stamps sealed; version 1 proofs are pinned by tests/sync/test_sealed_photo_stamps.py). A receipt a
customer holds must keep verifying against the digest recomputed from the stored
proof, so any change to these bytes is a break, not a refactor.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from backend.auth.tokens import Principal
from backend.db.models import Stop
from backend.domain.digest import (
    ReceiptSigner,
    proof_digest,
    public_key_from_seed,
    verify_receipt,
)
from backend.domain.events import DoorEvent, event_fingerprint, parse_event
from backend.domain.roles import Role
from backend.sync.seal import ProofSealer, seal_deliveries, seal_delivery

SEED = bytes(range(32))
NOW = datetime(2026, 11, 24, 17, 0, 5, 123456, tzinfo=UTC)
ZONE = [[[-122.31, 47.59], [-122.29, 47.59], [-122.29, 47.61], [-122.31, 47.61], [-122.31, 47.59]]]
PHOTO = "b" * 64

# (fingerprint, digest, receipt signature, geo outcome) per event, as sealed one by one.
EXPECTED = [
    (
        "2737e009a9c28f51ee4d3516f5bc5a97aaaa0f266be9aed4764859dc25fd16eb",
        "2fb3cd8c014229712a0ddc372fee31b121845e83529e1fe3c37146ecfae14402",
        "rJQCfmDnzEnJpG_uCRKPa8sSENr0SR8D5pTuCBewKs4-i-jaRrJw0QYYMWYu-FKS1SE5yzODrPzCwPVV4ER-AQ",
        "inside",
    ),
    (
        "cf907f72652b80347e7ea128744454df0fa85024f3461593384afc956bb71ac7",
        "934b015db04de4442cb75c26b1e7e1a511ad1b8a63ccb20b4b3c0f896a14bddc",
        "dBJZtZ-AlQaierZkppi3f5TGp7gxzV5DY7lLva-VbGfNNcsQAoe6MCiJitIVGnDjMZpy5f8spgrzqzvLNLkcBA",
        "inside",
    ),
    (
        "8fd5dc2f59a3e9cd8fb3440f8d54a0e7f716c1b6ce1eee3fc0f6cc8704aa79e1",
        "b90983ee7e6d53f56c17281d15b5a556371e4a4bdf93d505f1ce5d07b1419224",
        "IYaRVymy0dnA5RTiMxEHJ2H0-qZ1Ut0jBnTC1ozRT-xdhn-HuoxCB7eEz2vC8SyjQJhHsTho2lJQfwmH-g8iBw",
        "no_fix",
    ),
]


def _stop(i: int) -> Stop:
    return Stop(
        id=100 + i,
        org_id=7,
        order_number=f"A-{i}",
        service_date=date(2026, 11, 24),
        address=f"{i} Main St, Zürich",
        lat=47.6 + i / 1000,
        lon=-122.3,
        geofence=ZONE if i == 0 else None,
        version=1,
    )


def _raw(i: int) -> dict[str, Any]:
    """Three deliveries that cover the digest's corners: non-ASCII text, an integer
    accuracy, a fix with a time, no fix, photos, age checks, no files."""
    geos: list[dict[str, Any] | None] = [
        {"lat": 47.6, "lon": -122.3001, "accuracy_m": 7.5, "fixed_at": None},
        {"lat": 47.601, "lon": -122.3, "accuracy_m": 12, "fixed_at": "2026-11-24T15:51:00Z"},
        None,
    ]
    payload: dict[str, Any] = {
        "recipient_name": ["Dana Whitfield", "Zoë Ñandú 🚚", None][i],
        "geo": geos[i],
        "scanned_barcodes": [f"P{i}", "X-1"][: i + 1],
        "where_left": "front_door",
    }
    if i == 1:
        payload["age_verified"] = True
        payload["photos"] = [{"sha256": PHOTO, "taken_at": "2026-11-24T15:51:00Z", "geo": None}]
    files = [
        {
            "sha256": "a" * 63 + str(i),
            "kind": "signature",
            "content_type": "image/png",
            "size": 10 + i,
        },
        {"sha256": PHOTO, "kind": "photo", "content_type": "image/jpeg", "size": 99},
    ]
    return {
        "id": f"00000000-0000-4000-8000-00000000000{i}",
        "stop_id": 100 + i,
        "type": "delivered",
        "recorded_at": f"2026-11-24T16:5{i}:00.250+01:00",
        "hlc": f"00176400000000{i}-00000{i}-dev-1",
        "base_version": 1,
        "payload": payload,
        "evidence": files if i < 2 else [],
    }


def _batch() -> list[tuple[Stop, DoorEvent]]:
    return [(_stop(i), parse_event(_raw(i), "dev-1", NOW)) for i in range(3)]


SEALER = ProofSealer(
    signer=ReceiptSigner(SEED, "k1"),
    public_keys={"k1": public_key_from_seed(SEED)},
    pdf_keys={},
)
DRIVER = Principal(5, 7, Role.DRIVER, "driver-ü", "dev-1")


def test_a_sealed_batch_gives_the_digests_and_receipts_sealed_before_batching() -> None:
    batch = _batch()
    proofs = seal_deliveries(SEALER, batch, DRIVER, 150, NOW)
    got = [
        (
            event_fingerprint(event),
            proof["digest"],
            proof["receipt"]["signature"],
            proof["geo_check"]["outcome"],
        )
        for (_, event), proof in zip(batch, proofs, strict=True)
    ]
    assert got == EXPECTED
    for (stop, event), proof in zip(batch, proofs, strict=True):
        assert proof["event_id"] == event.id
        assert proof["stop_id"] == stop.id
        assert proof_digest(proof["fields"], proof["file_hashes"]) == proof["digest"]
        verify_receipt(proof["receipt"], SEALER.public_keys)


def test_sealing_a_batch_equals_sealing_each_delivery_alone() -> None:
    batch = _batch()
    together = seal_deliveries(SEALER, batch, DRIVER, 150, NOW)
    alone = [seal_delivery(SEALER, stop, event, DRIVER, 150, NOW) for stop, event in batch]
    assert together == alone
