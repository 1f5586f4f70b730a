"""The plan-change feed: what each driver must learn, in an order that never skips.

Every change to a stop that a driver can see appends rows to ``plan_change``: an
``upsert`` for the driver who holds the stop now (at the stop's current version) and a
``remove`` for a driver it was taken from. A stop that is *withdrawn* (re-planned as
another attempt, or a copy on hold) stays on its manifest as history, but its driver
gets a ``remove``: the device must not offer it. A driver's cursor is the highest ``seq``
they have received.

Sequences are allocated when a row is inserted, but transactions commit in their own
order: on PostgreSQL, a transaction holding seq 10 may commit after one holding 11, and
a reader at cursor 11 would skip 10 forever. A reader only ever reads one driver's
feed, so it is enough that each driver's rows commit in seq order: every writer takes
the *feed lock* of each driver it writes rows for (:func:`lock_feeds`, a transaction
advisory lock) before it inserts them, and holds it to commit. Two writers of one feed
then allocate and commit one after the other; writers of different feeds (the drivers
of a tenant syncing at the end of a shift) never wait for each other. On SQLite,
``BEGIN IMMEDIATE`` already serialises writers.

Lock order, so that writers do not deadlock: the device row, then stop rows (ascending
id), then feed locks (ascending driver id, all a transaction knows it needs at once).
The *plan lock* (:func:`lock_plan`) only serialises plan edits among themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import Manifest, Organization, PlanChange, Stop
from backend.domain.events import ChangeOp
from backend.manifests.service import bump_revision, offered_to_drivers, withdrawn

# The feed's rows carry the protocol's own words (``op`` in a sync answer).
UPSERT = ChangeOp.UPSERT
REMOVE = ChangeOp.REMOVE


# The advisory lock class of driver feeds (the key's first half; the driver id is the
# second). Two drivers whose ids agree modulo 2**31 share a lock: they wait, never skip.
FEED_LOCK_CLASS = 0x0D5F
_INT4 = 2**31


def lock_plan(session: Session, org_id: int) -> None:
    """Serialise plan edits of the tenant until the transaction ends.

    ``FOR NO KEY UPDATE``: plan editors still exclude each other, but the key-share
    locks that every insert of a tenant row takes on the organization (its foreign key)
    do not wait behind a plan edit, so syncs go on while back office works.
    """
    session.execute(
        select(Organization.id).where(Organization.id == org_id).with_for_update(key_share=True)
    )


def lock_feeds(session: Session, driver_ids: Iterable[int]) -> None:
    """Take the feed lock of each driver until the transaction ends (module docstring).

    Call before inserting the drivers' plan_change rows, with every driver the
    transaction will need at once when it can: locks are taken in ascending order.
    Taking one again is harmless.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for driver_id in sorted(set(driver_ids)):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": FEED_LOCK_CLASS, "key": driver_id % _INT4},
        )


def driver_of(session: Session, manifest_id: int | None) -> int | None:
    if manifest_id is None:
        return None
    return session.scalar(select(Manifest.driver_id).where(Manifest.id == manifest_id))


def drivers_of(session: Session, manifest_ids: Iterable[int | None]) -> set[int]:
    """The drivers of these manifests."""
    wanted = {m for m in manifest_ids if m is not None}
    if not wanted:
        return set()
    return set(session.scalars(select(Manifest.driver_id).where(Manifest.id.in_(wanted))))


def record_stop_change(
    session: Session, stop: Stop, previous_manifest_id: int | None = None
) -> None:
    """Publish ``stop`` as it is now to the drivers concerned.

    Call after changing the stop (and bumping ``stop.version`` for plan changes), in
    the same transaction; it takes the feed locks of the drivers concerned.
    ``previous_manifest_id`` is the manifest the stop was on before, when it moved.
    """
    session.flush()
    current_driver = driver_of(session, stop.manifest_id)
    previous_driver = (
        driver_of(session, previous_manifest_id)
        if previous_manifest_id is not None and previous_manifest_id != stop.manifest_id
        else None
    )
    lock_feeds(session, [d for d in (current_driver, previous_driver) if d is not None])
    if current_driver is not None:
        session.add(
            PlanChange(
                org_id=stop.org_id,
                driver_id=current_driver,
                stop_id=stop.id,
                kind=REMOVE if withdrawn(stop) else UPSERT,
                stop_version=stop.version,
            )
        )
    bump_revision(session, stop.manifest_id)
    if previous_manifest_id is not None and previous_manifest_id != stop.manifest_id:
        if previous_driver is not None and previous_driver != current_driver:
            session.add(
                PlanChange(
                    org_id=stop.org_id,
                    driver_id=previous_driver,
                    stop_id=stop.id,
                    kind=REMOVE,
                    stop_version=stop.version,
                )
            )
        bump_revision(session, previous_manifest_id)
    session.flush()


def record_status_changes(session: Session, stops: list[Stop]) -> None:
    """Publish derived status changes (no plan version change) for many stops at once."""
    if not stops:
        return
    session.flush()
    manifest_ids = {s.manifest_id for s in stops if s.manifest_id is not None}
    drivers = {
        manifest_id: driver_id
        for manifest_id, driver_id in session.execute(
            select(Manifest.id, Manifest.driver_id).where(Manifest.id.in_(manifest_ids))
        )
    }
    rows = [
        {
            "org_id": stop.org_id,
            "driver_id": drivers[stop.manifest_id],
            "stop_id": stop.id,
            "kind": REMOVE if withdrawn(stop) else UPSERT,
            "stop_version": stop.version,
            "created_at": clock.now(),
        }
        for stop in stops
        if stop.manifest_id in drivers
    ]
    if rows:
        lock_feeds(session, drivers.values())
        session.execute(insert(PlanChange), rows)
    for manifest_id in sorted(manifest_ids):
        bump_revision(session, manifest_id)


def current_cursor(session: Session, driver_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.max(PlanChange.seq), 0)).where(
                PlanChange.driver_id == driver_id
            )
        )
        or 0
    )


@dataclass
class FeedPage:
    """Changes after a cursor: the latest row per stop, in seq order."""

    changes: list[PlanChange]
    cursor: int
    has_more: bool


def changes_since(
    session: Session, driver_id: int, cursor: int, limit: int, until: int | None = None
) -> FeedPage:
    """The driver's changes with ``cursor < seq <= until``, at most ``limit`` rows read.

    When one page holds several rows for a stop, only the newest is returned: the
    device needs the stop as it is, not its history.
    """
    query = select(PlanChange).where(PlanChange.driver_id == driver_id, PlanChange.seq > cursor)
    if until is not None:
        query = query.where(PlanChange.seq <= until)
    rows = list(session.scalars(query.order_by(PlanChange.seq).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    latest: dict[int, PlanChange] = {}
    for row in rows:
        latest.pop(row.stop_id, None)
        latest[row.stop_id] = row
    new_cursor = rows[-1].seq if rows else cursor
    return FeedPage(list(latest.values()), new_cursor, has_more)


def stops_held_by(session: Session, driver_id: int, service_date: date) -> list[int]:
    """Ids of the stops on the driver's manifest for ``service_date``, in driving order.

    A device works one day at a time: stops planned for later days reach it when their
    day is today (the device starts each day with a snapshot).
    """
    return list(
        session.scalars(
            select(Stop.id)
            .join(Manifest, Manifest.id == Stop.manifest_id)
            .where(
                Manifest.driver_id == driver_id,
                Manifest.service_date == service_date,
                *offered_to_drivers(),
            )
            .order_by(Stop.sequence, Stop.id)
        )
    )
