"""The plan's rules that need the database: import, change, cancel, assign.

Every write takes the tenant's plan lock, validates everything before writing
anything, bumps the version of each stop it changes, and publishes each change to the
drivers concerned (``backend.sync.changes.record_stop_change``), all in one
transaction. A stop's status is always derived by the one rule in
``backend.domain.outcome``, so a plan change never overwrites what a driver reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.depots import depots_by_name
from backend.admin.settings import org_settings
from backend.auth.tokens import Principal
from backend.db.models import Manifest, Parcel, PlanChange, PromiseChange, Stop, User
from backend.db.session import begin_write
from backend.domain.clock import zone
from backend.domain.refusal import Refusal, not_found
from backend.domain.roles import Role
from backend.domain.stops import (
    PlanError,
    ProofPolicy,
    StopStatus,
    check_cancellable,
    check_plan_editable,
)
from backend.domain.tracking import with_recipient_note
from backend.eta import service as eta
from backend.eta.travel import TravelTimes
from backend.manifests.service import bump_revision, get_or_create_manifest
from backend.notifications import triggers as notifications
from backend.planning.importer import StopDraft, validate_rows
from backend.sync.changes import UPSERT, lock_feeds, lock_plan, record_stop_change
from backend.sync.derive import derive

# Fields a driver acts on at the door: changing one makes older reports stale.
MATERIAL_FIELDS = frozenset(
    {
        "address",
        "lat",
        "lon",
        "geofence",
        "window_start",
        "window_end",
        "recipient_name",
        "recipient_phone",
        "proof_policy",
    }
)


# Fields that move a driver's ETAs.
ETA_FIELDS = frozenset({"lat", "lon", "window_start", "window_end"})

# Why a promise row was written (``PromiseChange.reason``).
PLANNED, CHANGED, RESCHEDULED = "planned", "changed", "rescheduled"

# Another attempt of an order: <order>-R<n> (n = 1 for the second attempt).
ATTEMPT_SUFFIX = re.compile(r"-R\d+$")


def find_driver(session: Session, username: str) -> User | None:
    return session.scalars(
        select(User).where(User.username == username, User.role == Role.DRIVER)
    ).one_or_none()


def import_stops(
    session: Session,
    principal: Principal,
    service_date: date,
    rows: Sequence[tuple[str, Mapping[str, Any]]],
    allowed: frozenset[str],
) -> list[dict[str, Any]]:
    """Validate every row, then create all stops or none (422 ``import_invalid``)."""
    begin_write(session)
    lock_plan(session, principal.org_id)
    settings = org_settings(session, principal.org_id)
    drafts, problems = validate_rows(rows, service_date, zone(settings.timezone), allowed)
    depots = depots_by_name(session)
    existing = set(
        session.scalars(
            select(Stop.order_number).where(
                Stop.service_date == service_date,
                Stop.order_number.in_([d.order_number for d in drafts]),
            )
        )
    )
    drivers: dict[str, User | None] = {}
    for draft in drafts:
        errors: dict[str, list[str]] = {}
        if draft.order_number in existing:
            errors["order_number"] = [f"{draft.order_number} already exists for {service_date}"]
        if draft.driver is not None:
            if draft.driver not in drivers:
                drivers[draft.driver] = find_driver(session, draft.driver)
            if drivers[draft.driver] is None:
                errors["driver"] = [f"no driver named {draft.driver!r}"]
        if draft.depot is not None and draft.depot not in depots:
            errors["depot"] = [f"no depot named {draft.depot!r} (retired depots take no stops)"]
        if errors:
            problems[draft.row] = errors
    if problems:
        raise Refusal(
            "import_invalid",
            f"{len(problems)} row(s) are invalid; nothing was imported",
            errors={"rows": dict(sorted(problems.items(), key=lambda kv: int(kv[0])))},
        )
    for draft in drafts:
        if draft.proof_policy is None:
            draft.proof_policy = settings.default_proof_policy.to_dict()
    return _create_stops(session, principal.org_id, service_date, drafts, drivers, depots)


def _create_stops(
    session: Session,
    org_id: int,
    service_date: date,
    drafts: list[StopDraft],
    drivers: Mapping[str, User | None],
    depots: Mapping[str, int],
) -> list[dict[str, Any]]:
    manifests: dict[str, Manifest] = {}
    next_sequence: dict[int, int] = {}
    # Every feed this import writes to, at once, before any of its rows is allocated.
    lock_feeds(session, [driver.id for driver in drivers.values() if driver is not None])
    created = []
    for draft in drafts:
        manifest = None
        sequence = None
        if draft.driver is not None:
            driver = drivers[draft.driver]
            assert driver is not None  # checked by import_stops
            if draft.driver not in manifests:
                manifests[draft.driver] = get_or_create_manifest(
                    session, org_id, driver.id, service_date
                )
            manifest = manifests[draft.driver]
            if manifest.id not in next_sequence:
                last = session.scalar(
                    select(func.max(Stop.sequence)).where(Stop.manifest_id == manifest.id)
                )
                next_sequence[manifest.id] = (last or 0) + 1
            sequence = draft.sequence or next_sequence[manifest.id]
            next_sequence[manifest.id] = max(next_sequence[manifest.id], sequence + 1)
        stop = Stop(
            org_id=org_id,
            service_date=service_date,
            order_number=draft.order_number,
            manifest_id=manifest.id if manifest else None,
            depot_id=depots[draft.depot] if draft.depot is not None else None,
            sequence=sequence,
            address=draft.address,
            lat=draft.lat,
            lon=draft.lon,
            geofence=draft.geofence,
            window_start=draft.window_start,
            window_end=draft.window_end,
            recipient_name=draft.recipient_name,
            recipient_phone=draft.recipient_phone,
            recipient_email=draft.recipient_email,
            promised_start=draft.promised_start,
            promised_end=draft.promised_end,
            instructions=draft.instructions,
            proof_policy=draft.proof_policy,
        )
        session.add(stop)
        session.flush()
        record_promise(session, stop, PLANNED)
        if draft.parcels:
            session.execute(
                insert(Parcel),
                [
                    {"org_id": org_id, "stop_id": stop.id, "barcode": b, "description": d}
                    for b, d in draft.parcels
                ],
            )
        if manifest is not None:
            session.add(
                PlanChange(
                    org_id=org_id,
                    driver_id=manifest.driver_id,
                    stop_id=stop.id,
                    kind=UPSERT,
                    stop_version=stop.version,
                )
            )
        created.append(
            {
                "id": stop.id,
                "order_number": stop.order_number,
                "driver": draft.driver,
                "sequence": sequence,
            }
        )
    for manifest in manifests.values():
        bump_revision(session, manifest.id)
    session.commit()
    return created


def _locked_stop(session: Session, principal: Principal, stop_id: int) -> Stop:
    begin_write(session)
    lock_plan(session, principal.org_id)
    stop = session.get(Stop, stop_id)
    if stop is None:
        raise not_found("stop")
    return stop


def _publish(session: Session, stop: Stop, previous_manifest_id: int | None = None) -> None:
    """Re-derive the status under the plan's new facts and tell the drivers concerned."""
    stop.status = derive(session, stop).status
    record_stop_change(session, stop, previous_manifest_id)


def change_stop(
    session: Session,
    principal: Principal,
    stop_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
    *,
    travel: TravelTimes | None = None,
) -> Stop:
    stop = _locked_stop(session, principal, stop_id)
    if expected_version is not None and expected_version != stop.version:
        raise Refusal(
            "version_mismatch",
            f"the stop is at version {stop.version}, not {expected_version}; reload and retry",
        )
    check_plan_editable(stop.status)
    promised_before = (stop.promised_start, stop.promised_end)
    for name, value in changes.items():
        if name == "proof_policy":
            # A partial policy changes only the flags it names.
            value = ProofPolicy.from_dict({**stop.proof_policy, **value}).to_dict()
        setattr(stop, name, value)
    start, end = stop.window_start, stop.window_end
    if (start is None) != (end is None) or (start and end and end <= start):
        raise Refusal(
            "validation_error",
            "the time window is incomplete or backwards",
            errors={"window_end": ["must be after window_start"]},
        )
    start, end = stop.promised_start, stop.promised_end
    if (start is None) != (end is None) or (start and end and end <= start):
        raise Refusal(
            "validation_error",
            "the promised window is incomplete or backwards",
            errors={"promised_end": ["must be after promised_start"]},
        )
    if (stop.promised_start, stop.promised_end) != promised_before:
        record_promise(session, stop, CHANGED, changed_by=principal.user_id)
    stop.version += 1
    if MATERIAL_FIELDS & set(changes):
        stop.material_version = stop.version
    _publish(session, stop)
    if ETA_FIELDS & set(changes):
        _recompute_etas(session, principal.org_id, [stop.manifest_id], stop.service_date, travel)
    session.commit()
    return stop


def cancel_stop(
    session: Session,
    principal: Principal,
    stop_id: int,
    reason: str,
    *,
    travel: TravelTimes | None = None,
) -> Stop:
    stop = _locked_stop(session, principal, stop_id)
    check_cancellable(stop.status)
    stop.cancelled_at = clock.now()
    stop.cancel_reason = reason
    stop.version += 1
    stop.material_version = stop.version
    _publish(session, stop)
    eta.forget(session, [stop.id])
    _recompute_etas(session, principal.org_id, [stop.manifest_id], stop.service_date, travel)
    session.commit()
    return stop


def assign_manifest(
    session: Session,
    principal: Principal,
    driver_username: str,
    service_date: date,
    stop_ids: Sequence[int],
    *,
    travel: TravelTimes | None = None,
) -> Manifest:
    """Make the driver's manifest exactly ``stop_ids``, in that order."""
    begin_write(session)
    lock_plan(session, principal.org_id)
    driver = find_driver(session, driver_username)
    if driver is None:
        raise not_found("driver")
    manifest = get_or_create_manifest(session, principal.org_id, driver.id, service_date)
    stops = {s.id: s for s in session.scalars(select(Stop).where(Stop.id.in_(stop_ids)))}
    errors: dict[str, list[str]] = {}
    seen: set[int] = set()
    for index, stop_id in enumerate(stop_ids):
        stop = stops.get(stop_id)
        problem = None
        if stop_id in seen:
            problem = "is listed twice"
        elif stop is None:
            problem = "no such stop"
        elif stop.service_date != service_date:
            problem = f"is planned for {stop.service_date}, not {service_date}"
        elif stop.held_at is not None:
            problem = (
                "is held: its earlier attempt was reported on after it was re-planned; "
                "decide that exception first"
            )
        elif stop.replanned_at is not None:
            problem = f"was re-planned as stop {stop.replanned_as_id}"
        elif stop.manifest_id != manifest.id and stop.status not in (
            StopStatus.PENDING,
            StopStatus.ARRIVED,
        ):
            problem = f"is {stop.status.value}; only pending or arrived stops can move"
        seen.add(stop_id)
        if problem:
            errors[str(index)] = [f"stop {stop_id} {problem}"]
    dropped = list(
        session.scalars(
            select(Stop).where(Stop.manifest_id == manifest.id, Stop.id.not_in(stop_ids or [0]))
        )
    )
    for stop in dropped:
        if stop.status not in (StopStatus.PENDING, StopStatus.ARRIVED):
            errors.setdefault("_dropped", []).append(
                f"stop {stop.id} is {stop.status.value}; keep it on the manifest"
            )
    if errors:
        raise Refusal(
            "validation_error",
            "the stop list is invalid; nothing changed",
            errors={"stop_ids": errors},
        )
    for stop in dropped:
        stop.manifest_id, stop.sequence = None, None
        stop.version += 1
        _publish(session, stop, manifest.id)
    eta.forget(session, [stop.id for stop in dropped])
    manifests_touched: set[int | None] = set()
    for sequence, stop_id in enumerate(stop_ids, start=1):
        stop = stops[stop_id]
        if (stop.manifest_id, stop.sequence) == (manifest.id, sequence):
            continue
        previous = stop.manifest_id
        manifests_touched.update((previous, manifest.id))
        stop.manifest_id, stop.sequence = manifest.id, sequence
        stop.version += 1
        _publish(session, stop, previous)
    if dropped:
        manifests_touched.add(manifest.id)
    _recompute_etas(session, principal.org_id, manifests_touched, service_date, travel)
    session.commit()
    return manifest


def _recompute_etas(
    session: Session,
    org_id: int,
    manifest_ids: Iterable[int | None],
    service_date: date,
    travel: TravelTimes | None,
) -> None:
    """Bring the ETAs of the drivers whose day changed up to date, in this transaction."""
    ids = [manifest_id for manifest_id in manifest_ids if manifest_id is not None]
    if not ids:
        return
    session.flush()
    for driver_id in sorted(
        set(session.scalars(select(Manifest.driver_id).where(Manifest.id.in_(ids))))
    ):
        eta.recompute(session, org_id, driver_id, service_date, clock.now(), travel=travel)


def list_stops(
    session: Session,
    service_date: date,
    driver: str | None,
    status: str | None,
    unassigned: bool,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Stop, str | None]], int]:
    query = (
        select(Stop, User.username)
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(Stop.service_date == service_date)
    )
    if driver is not None:
        query = query.where(User.username == driver)
    if status is not None:
        query = query.where(Stop.status == StopStatus(status))
    if unassigned:
        query = query.where(Stop.manifest_id.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(User.username.asc().nulls_last(), Stop.sequence, Stop.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(stop, username) for stop, username in rows], int(total)


def parcels_for(session: Session, stop_ids: Sequence[int]) -> dict[int, list[Parcel]]:
    grouped: dict[int, list[Parcel]] = {}
    if stop_ids:
        for parcel in session.scalars(
            select(Parcel).where(Parcel.stop_id.in_(stop_ids)).order_by(Parcel.id)
        ):
            grouped.setdefault(parcel.stop_id, []).append(parcel)
    return grouped


def manifests_overview(session: Session, service_date: date) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Manifest.id, User.username, Manifest.revision, Stop.status, func.count(Stop.id))
        .join(User, User.id == Manifest.driver_id)
        .outerjoin(Stop, Stop.manifest_id == Manifest.id)
        .where(Manifest.service_date == service_date)
        .group_by(Manifest.id, User.username, Manifest.revision, Stop.status)
        .order_by(User.username)
    ).all()
    overview: dict[int, dict[str, Any]] = {}
    for manifest_id, username, revision, status, count in rows:
        entry = overview.setdefault(
            manifest_id,
            {
                "id": manifest_id,
                "driver": username,
                "service_date": service_date.isoformat(),
                "revision": revision,
                "stops": 0,
                "by_status": {},
            },
        )
        if status is not None:
            entry["stops"] += count
            entry["by_status"][status.value] = count
    return list(overview.values())


def parse_service_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Refusal(
            "validation_error",
            "dates are YYYY-MM-DD",
            errors={"service_date": ["not a YYYY-MM-DD date"]},
        ) from exc


def plan_next_attempts(
    session: Session, originals: Sequence[Stop], service_dates: Mapping[int, date]
) -> dict[int, int]:
    """A new, unassigned stop per original on ``service_dates[original.id]``: the same
    order and parcels, another attempt (order number ``<order>-R<n>``), the time window
    moved to that day. No commit; returns original stop id -> new stop id.

    A handful of queries however many stops: the end of a day rolls hundreds of stops
    over at once (re-plans), and a dispute plans a redelivery the same way.
    """
    if not originals:
        return {}
    # How many attempts each order already had, in one query rather than one per stop.
    # Every earlier attempt of an order is dated after the order itself, so only the
    # days from the earliest original on are read, not the tenant's whole history.
    earlier = session.scalars(
        select(Stop.order_number).where(
            Stop.order_number.like("%-R%"),
            Stop.service_date >= min(stop.service_date for stop in originals),
        )
    )
    taken = Counter(order_of(number) for number in earlier)
    clones = {
        stop.id: Stop(
            org_id=stop.org_id,
            service_date=service_dates[stop.id],
            order_number=f"{order_of(stop.order_number)}-R{taken[order_of(stop.order_number)] + 1}",
            depot_id=stop.depot_id,
            address=stop.address,
            lat=stop.lat,
            lon=stop.lon,
            geofence=stop.geofence,
            window_start=_moved(stop.window_start, service_dates[stop.id] - stop.service_date),
            window_end=_moved(stop.window_end, service_dates[stop.id] - stop.service_date),
            recipient_name=stop.recipient_name,
            recipient_phone=stop.recipient_phone,
            recipient_email=stop.recipient_email,
            promised_start=_moved(stop.promised_start, service_dates[stop.id] - stop.service_date),
            promised_end=_moved(stop.promised_end, service_dates[stop.id] - stop.service_date),
            instructions=stop.instructions,
            proof_policy=dict(stop.proof_policy),
        )
        for stop in originals
    }
    session.add_all(clones.values())
    session.flush()
    for clone in clones.values():
        record_promise(session, clone, RESCHEDULED)
    for stop_id, barcode, description in session.execute(
        select(Parcel.stop_id, Parcel.barcode, Parcel.description).where(
            Parcel.stop_id.in_(list(clones))
        )
    ):
        clone = clones[stop_id]
        session.add(
            Parcel(org_id=clone.org_id, stop_id=clone.id, barcode=barcode, description=description)
        )
    attempts = {stop_id: clone.id for stop_id, clone in clones.items()}
    # The recipient hears the new date (backend.notifications.triggers).
    notifications.on_rescheduled(session, originals, attempts)
    return attempts


def record_promise(
    session: Session, stop: Stop, reason: str, changed_by: int | None = None
) -> None:
    """Append the stop's promised window as it now stands to its history."""
    session.add(
        PromiseChange(
            org_id=stop.org_id,
            stop_id=stop.id,
            promised_start=stop.promised_start,
            promised_end=stop.promised_end,
            reason=reason,
            changed_by=changed_by,
            created_at=clock.now(),
        )
    )


def order_of(order_number: str) -> str:
    """The order an attempt belongs to: ``A-17-R2`` is the third attempt of ``A-17``."""
    return ATTEMPT_SUFFIX.sub("", order_number)


def _moved(moment: datetime | None, by: timedelta) -> datetime | None:
    return moment + by if moment is not None else None


def set_recipient_instructions(session: Session, org_id: int, stop_id: int, text: str) -> Stop:
    """The recipient's delivery instructions (from the tracking page) on the stop, as
    a plan change its driver's app receives at its next sync.

    The planned instructions stay; the recipient's latest note replaces their earlier
    one (``backend.domain.tracking.with_recipient_note``). Only a stop still open to
    plan changes takes it. No commit: the caller records the request with it.
    """
    begin_write(session)
    lock_plan(session, org_id)
    stop = session.get(Stop, stop_id)
    if stop is None:
        raise not_found("stop")
    check_plan_editable(stop.status)
    if stop.cancelled_at is not None or stop.replanned_at is not None or stop.held_at is not None:
        raise PlanError("stop_not_editable", "this delivery can no longer take instructions")
    stop.instructions = with_recipient_note(stop.instructions, text)
    stop.version += 1
    _publish(session, stop)
    return stop
