"""Reading manifests, and the invariant that keeps their ETags honest.

Invariant: every write that changes what a driver would see in a manifest (a stop's
fields, status, sequence, parcels, or which manifest it is on) calls
:func:`bump_revision` for each manifest it touches, in the same transaction. The
ETag and the serialized-body cache are keyed on ``(manifest id, revision)``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.settings import org_settings
from backend.db.models import Manifest, Parcel, Stop, User
from backend.domain.clock import zone


class ManifestHead(NamedTuple):
    """What a revalidation needs of a manifest, and the body's header fields."""

    id: int
    revision: int
    service_date: date


def find_manifest_head(session: Session, driver_id: int, service_date: date) -> ManifestHead | None:
    """The manifest's id and revision: one read of the (org, driver, date) unique index,
    with no join, so a 304 costs the token check and this."""
    found = session.execute(
        select(Manifest.id, Manifest.revision, Manifest.service_date).where(
            Manifest.driver_id == driver_id, Manifest.service_date == service_date
        )
    ).one_or_none()
    return None if found is None else ManifestHead(*found)


def driver_username(session: Session, driver_id: int) -> str:
    return session.execute(select(User.username).where(User.id == driver_id)).scalar_one()


def find_driver_manifest(session: Session, driver_id: int, service_date: date) -> Manifest | None:
    return session.scalars(
        select(Manifest).where(
            Manifest.driver_id == driver_id, Manifest.service_date == service_date
        )
    ).one_or_none()


def get_or_create_manifest(
    session: Session, org_id: int, driver_id: int, service_date: date
) -> Manifest:
    manifest = find_driver_manifest(session, driver_id, service_date)
    if manifest is None:
        manifest = Manifest(org_id=org_id, driver_id=driver_id, service_date=service_date)
        session.add(manifest)
        session.flush()
    return manifest


def bump_revision(session: Session, manifest_id: int | None) -> None:
    """Mark the manifest changed (see the module invariant)."""
    if manifest_id is None:
        return
    session.execute(
        update(Manifest)
        .where(Manifest.id == manifest_id)
        .values(revision=Manifest.revision + 1)
        .execution_options(synchronize_session=False)
    )


def manifest_etag(manifest: Manifest | ManifestHead) -> str:
    # Weak: the same revision is served plain or gzipped, which are different bytes.
    return f'W/"m{manifest.id}.r{manifest.revision}"'


def withdrawn(stop: Stop) -> bool:
    """Whether the stop's driver must not work it: back office re-planned it as another
    attempt, or it is such a copy on hold. It stays on its manifest as history."""
    return stop.replanned_at is not None or stop.held_at is not None


def offered_to_drivers() -> tuple[ColumnElement[bool], ...]:
    """Query conditions for the stops a driver is offered (the negation of withdrawn)."""
    return (Stop.replanned_at.is_(None), Stop.held_at.is_(None))


# The columns a manifest body shows (serialize.stop_to_dict), read as plain rows: building
# 150 ORM objects and their parcels costs more than the queries themselves.
STOP_BODY_COLUMNS = (
    Stop.id,
    Stop.order_number,
    Stop.service_date,
    Stop.sequence,
    Stop.status,
    Stop.version,
    Stop.address,
    Stop.lat,
    Stop.lon,
    Stop.geofence,
    Stop.window_start,
    Stop.window_end,
    Stop.recipient_name,
    Stop.recipient_phone,
    Stop.proof_policy,
    Stop.instructions,
)


def load_stops(
    session: Session, manifest_id: int
) -> tuple[Sequence[Row[Any]], dict[int, list[Any]]]:
    """The manifest's stops the driver works, in driving order, and their parcels, in
    two queries, as rows with the attributes ``serialize.stop_to_dict`` reads."""
    stops = session.execute(
        select(*STOP_BODY_COLUMNS)
        .where(Stop.manifest_id == manifest_id, *offered_to_drivers())
        .order_by(Stop.sequence.asc().nulls_last(), Stop.id)
    ).all()
    parcels_by_stop: dict[int, list[Any]] = {}
    if stops:
        for parcel in session.execute(
            select(Parcel.stop_id, Parcel.barcode, Parcel.description)
            .where(Parcel.stop_id.in_([s.id for s in stops]))
            .order_by(Parcel.id)
        ):
            parcels_by_stop.setdefault(parcel.stop_id, []).append(parcel)
    return stops, parcels_by_stop


def org_zone(session: Session, org_id: int) -> ZoneInfo:
    """The organization's time zone, from its settings (UTC when unknown to this machine)."""
    return zone(org_settings(session, org_id).timezone)


def org_today(session: Session, org_id: int) -> date:
    """Today where the organization works: the one "today" of manifests, sync,
    reconciliation and the console (the calendar date in its time zone, by the
    application's clock)."""
    return clock.now().astimezone(org_zone(session, org_id)).date()


class BodyCache:
    """A small LRU of serialized manifest bodies, keyed by an ETag-like key.

    Safe across processes because the key includes the revision: a changed manifest
    has a new key, and the stale entry simply ages out.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, int, int, bool], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int, int, bool]) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def put(self, key: tuple[int, int, int, bool], body: bytes) -> None:
        with self._lock:
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
