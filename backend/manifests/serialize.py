"""Turn manifests and stops into JSON bodies.

Written by hand rather than through marshmallow: a driver's manifest is 150 stops with
their parcels, fetched at every shift start and every sync, and a plain dict build is
several times faster. ``schemas.py`` documents the same shape for OpenAPI, and a test
checks the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol

from backend.domain.clock import utc_text
from backend.domain.stops import ProofPolicy, StopStatus


class StopFields(Protocol):
    """What a stop's body is made of: a ``Stop`` row object, or a plain row of
    ``service.STOP_BODY_COLUMNS`` (the manifest path reads those, for speed)."""

    @property
    def id(self) -> int: ...
    @property
    def order_number(self) -> str: ...
    @property
    def service_date(self) -> date: ...
    @property
    def sequence(self) -> int | None: ...
    @property
    def status(self) -> StopStatus: ...
    @property
    def version(self) -> int: ...
    @property
    def address(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def geofence(self) -> Any: ...
    @property
    def window_start(self) -> datetime | None: ...
    @property
    def window_end(self) -> datetime | None: ...
    @property
    def recipient_name(self) -> str: ...
    @property
    def recipient_phone(self) -> str: ...
    @property
    def proof_policy(self) -> dict[str, Any]: ...
    @property
    def instructions(self) -> str: ...


class ParcelFields(Protocol):
    @property
    def barcode(self) -> str: ...
    @property
    def description(self) -> str: ...


class ManifestFields(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def service_date(self) -> date: ...
    @property
    def revision(self) -> int: ...


def stop_to_dict(stop: StopFields, parcels: Iterable[ParcelFields]) -> dict[str, Any]:
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
    manifest: ManifestFields,
    driver: str,
    stops: Iterable[StopFields],
    parcels_by_stop: dict[int, list[Any]],
) -> dict[str, Any]:
    """The manifest body; ``driver`` is the driver's username."""
    return {
        "id": manifest.id,
        "driver": driver,
        "service_date": manifest.service_date.isoformat(),
        "revision": manifest.revision,
        "stops": [stop_to_dict(s, parcels_by_stop.get(s.id, ())) for s in stops],
    }
