"""Turn manifests and stops into JSON bodies.

Written by hand rather than through marshmallow: a driver's manifest is 150 stops with
their parcels, fetched at every shift start and every sync, and a plain dict build is
several times faster. ``schemas.py`` documents the same shape for OpenAPI, and a test
checks the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.db.models import Manifest, Parcel, Stop
from backend.domain.clock import utc_text
from backend.domain.stops import ProofPolicy


def stop_to_dict(stop: Stop, parcels: Iterable[Parcel]) -> dict[str, Any]:
    return {
        "id": stop.id,
        "order_number": stop.order_number,
        "service_date": stop.service_date.isoformat(),
        "sequence": stop.sequence,
        "status": stop.status.value,
        "version": stop.version,
        "address": stop.address,
        "location": {"lat": stop.lat, "lon": stop.lon},
        "geofence": stop.geofence,
        "time_window": {"start": utc_text(stop.window_start), "end": utc_text(stop.window_end)},
        "recipient": {"name": stop.recipient_name, "phone": stop.recipient_phone},
        "parcels": [{"barcode": p.barcode, "description": p.description} for p in parcels],
        "proof_policy": ProofPolicy.from_dict(stop.proof_policy).to_dict(),
        "instructions": stop.instructions,
    }


def manifest_to_dict(
    manifest: Manifest, stops: Iterable[Stop], parcels_by_stop: dict[int, list[Parcel]]
) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "driver": manifest.driver.username,
        "service_date": manifest.service_date.isoformat(),
        "revision": manifest.revision,
        "stops": [stop_to_dict(s, parcels_by_stop.get(s.id, ())) for s in stops],
    }
