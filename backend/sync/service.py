"""One sync round trip: apply the device's events, then hand back the plan changes.

The whole request is one transaction: either every accepted event, its files' rows,
proofs, conflicts and derived statuses are committed together, or (on a database
failure) nothing is and the device simply retries. Events are judged one by one: a
rejected event is answered on its own line and never blocks the rest of the batch.

It locks only what it works on, in the order backend.sync.changes documents: the
device's row (a resent batch waits for the first copy, then finds it stored), the
batch's stops (two reports on one stop are derived together, never side by side) and
the feeds it writes to. Drivers of one tenant sync side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from backend.admin.settings import org_settings
from backend.auth.tokens import Principal
from backend.db.models import (
    Conflict,
    Device,
    DoorEventRow,
    EventEvidence,
    EvidenceFile,
    Parcel,
    Stop,
)
from backend.db.session import begin_write
from backend.domain.clock import utc_text, zone
from backend.domain.org_settings import DEFAULT_GEOFENCE_THRESHOLD_M
from backend.domain.refusal import Refusal
from backend.eta import service as eta
from backend.eta.travel import TravelTimes
from backend.evidence import service as evidence
from backend.evidence.storage import EvidenceStore
from backend.manifests.serialize import stop_to_dict
from backend.manifests.service import org_today
from backend.sync import changes
from backend.sync.derive import key_in, rederive_stops
from backend.sync.ingest import APPLIED, CONFLICT, IngestOutcome, ingest_events
from backend.sync.schemas import MAX_EVENTS_PER_BATCH
from backend.sync.seal import ProofSealer
from backend.webhooks import service as webhooks

# At most this many files are listed per response (docs/sync-protocol.md).
MAX_UPLOADS_LISTED = 200
# Keys per IN list: well inside SQLite's bound on parameters per statement.
LOOKUP_CHUNK = 500


@dataclass
class SyncContext:
    principal: Principal
    store: EvidenceStore
    sealer: ProofSealer
    api_base: str
    now: datetime
    # Read by run_sync inside its write transaction, never before it: a read ahead of
    # begin_write starts the transaction deferred (see backend.db.session.begin_write).
    geofence_threshold_m: int = DEFAULT_GEOFENCE_THRESHOLD_M
    # The driver's day: the organization's today.
    service_date: date | None = None
    # Its time zone's name, so the device shows times as the organization reads them.
    time_zone: str = "UTC"
    skew_ms: int | None = None
    # When this device last sent everything it held (before this request), if ever.
    not_before: datetime | None = None
    touched_stops: dict[int, Stop] = field(default_factory=dict)
    # Where ETAs get their travel times (great-circle when not given).
    travel: TravelTimes | None = None


def run_sync(session: Session, ctx: SyncContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``body["events"]``, then pull changes after ``body["cursor"]``."""
    raw_events = body["events"]
    if len(raw_events) > MAX_EVENTS_PER_BATCH:
        raise Refusal("batch_too_large", f"send at most {MAX_EVENTS_PER_BATCH} events per request")
    device_key = body["device_id"]
    if ctx.principal.device_key is not None and device_key != ctx.principal.device_key:
        raise Refusal("device_mismatch", "the device_id differs from the device that logged in")
    if body.get("sent_at") is not None:
        ctx.skew_ms = int((body["sent_at"] - ctx.now).total_seconds() * 1000)

    begin_write(session)
    settings = org_settings(session, ctx.principal.org_id)
    ctx.geofence_threshold_m = settings.geofence_threshold_m
    ctx.time_zone = zone(settings.timezone).key
    ctx.service_date = org_today(session, ctx.principal.org_id)
    _touch_device(session, ctx, device_key, body)
    session.flush()
    outcome = ingest_events(session, ctx, raw_events, device_key)
    ctx.touched_stops = outcome.touched
    # The feeds this request writes to (its driver's, and those of whoever holds the
    # stops it touched), at once, before reading its own: no other transaction can add
    # to this driver's feed until commit, so the horizon below and the cursor handed
    # back cannot pass over a change that commits later.
    changes.lock_feeds(
        session,
        [
            ctx.principal.user_id,
            *changes.drivers_of(session, [s.manifest_id for s in outcome.touched.values()]),
        ],
    )
    # Everything the feed holds for this driver up to now; rows after this horizon are
    # written by this very request (statuses its own events changed), and the device
    # learns those from its results, not from the change list.
    horizon = changes.current_cursor(session, ctx.principal.user_id)
    results = outcome.results
    conflict_rows = _rederive(session, ctx)
    _mark_conflicting_results(session, results, conflict_rows, outcome, ctx.principal.org_id)
    cursor, page_changes, has_more = _pull(
        session, ctx, body["cursor"], body["pull_limit"], horizon
    )
    uploads = _uploads_owed(session, ctx, device_key)
    eta.after_sync(
        session,
        ctx.principal.org_id,
        ctx.principal.user_id,
        ctx.service_date,
        ctx.now,
        timezone=settings.timezone,
        positions=body.get("positions") or (),
        stops_touched=bool(outcome.touched),
        travel=ctx.travel,
    )
    session.commit()
    return {
        "results": results,
        "changes": page_changes,
        "cursor": str(cursor),
        "has_more": has_more,
        "uploads": uploads,
        "conflicts": [conflict_to_dict(c) for c in conflict_rows],
        "server_time": utc_text(ctx.now),
        "service_date": ctx.service_date.isoformat(),
        "time_zone": ctx.time_zone,
        "snapshot": body["cursor"] is None,
    }


def _touch_device(
    session: Session, ctx: SyncContext, device_key: str, body: Mapping[str, Any]
) -> None:
    device = session.scalars(select(Device).where(Device.device_key == device_key)).one_or_none()
    if device is None:
        device = Device(org_id=ctx.principal.org_id, device_key=device_key, first_seen_at=ctx.now)
        session.add(device)
    device.user_id = ctx.principal.user_id
    device.last_seen_at = ctx.now
    device.last_sync_at = ctx.now
    ctx.not_before = device.drained_at
    if body.get("outbox_drained", False):
        device.drained_at = ctx.now
    # Older apps say neither; what they last said stays until they say otherwise.
    if body.get("app_version") is not None:
        device.app_version = body["app_version"]
    if body.get("pending_events") is not None:
        device.pending_events = body["pending_events"]
    elif body.get("outbox_drained", False):
        device.pending_events = 0


def _rederive(session: Session, ctx: SyncContext) -> list[Conflict]:
    return rederive_stops(session, list(ctx.touched_stops.values()), ctx.now)


def _mark_conflicting_results(
    session: Session,
    results: list[dict[str, Any]],
    conflicts: Iterable[Conflict],
    outcome: IngestOutcome,
    org_id: int,
) -> None:
    """An event of this batch that is part of an open conflict is answered ``conflict``.

    The answer is stored with the event, so a resend gets the same answer back.
    """
    by_event: dict[str, Conflict] = {}
    for conflict in conflicts:
        for event_id in conflict.event_ids:
            by_event.setdefault(event_id, conflict)
    marked: dict[str, list[str]] = {}
    for result in results:
        found = by_event.get(result.get("id") or "")
        if result["status"] == APPLIED and found is not None:
            result["status"] = CONFLICT
            result["code"] = found.kind
            result["message"] = found.detail
            marked.setdefault(found.kind, []).append(result["id"])
    if marked:
        webhooks.enqueue(
            session,
            org_id,
            "exception",
            [
                {"event_id": event_id, "stop_id": outcome.stored[event_id], "conflict": kind}
                for kind, event_ids in marked.items()
                for event_id in event_ids
            ],
        )
    for kind, event_ids in marked.items():
        session.execute(
            update(DoorEventRow)
            .where(DoorEventRow.event_id.in_(event_ids))
            .values(result=CONFLICT, result_code=kind)
            .execution_options(synchronize_session=False)
        )
    for result in results:
        stop_id = outcome.stored.get(result.get("id") or "")
        if stop_id is not None and result["status"] in (APPLIED, CONFLICT):
            result["stop_status"] = outcome.touched[stop_id].status.value


def _pull(
    session: Session, ctx: SyncContext, cursor: str | None, limit: int, horizon: int
) -> tuple[int, list[dict[str, Any]], bool]:
    driver_id = ctx.principal.user_id
    if cursor is None:
        return _snapshot(session, ctx)
    page = changes.changes_since(session, driver_id, int(cursor), limit, until=horizon)
    if not page.has_more:
        # Skip past this request's own rows (see run_sync).
        page.cursor = max(page.cursor, changes.current_cursor(session, driver_id))
    stops = _stops_with_parcels(
        session, [c.stop_id for c in page.changes if c.kind == changes.UPSERT]
    )
    body: list[dict[str, Any]] = []
    for change in page.changes:
        entry: dict[str, Any] = {"seq": change.seq, "op": change.kind, "stop_id": change.stop_id}
        if change.kind == changes.UPSERT and change.stop_id in stops:
            entry["stop"] = stops[change.stop_id]
        body.append(entry)
    return page.cursor, body, page.has_more


def _snapshot(session: Session, ctx: SyncContext) -> tuple[int, list[dict[str, Any]], bool]:
    """Every stop of the driver's day, as upserts."""
    assert ctx.service_date is not None, "run_sync sets the day before pulling"
    cursor = changes.current_cursor(session, ctx.principal.user_id)
    stop_ids = changes.stops_held_by(session, ctx.principal.user_id, ctx.service_date)
    stops = _stops_with_parcels(session, stop_ids)
    body = [
        {"seq": cursor, "op": changes.UPSERT, "stop_id": stop_id, "stop": stops[stop_id]}
        for stop_id in stop_ids
        if stop_id in stops
    ]
    return cursor, body, False


def _stops_with_parcels(session: Session, stop_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not stop_ids:
        return {}
    stops = session.scalars(select(Stop).where(Stop.id.in_(stop_ids))).all()
    parcels: dict[int, list[Parcel]] = {}
    for parcel in session.scalars(
        select(Parcel).where(Parcel.stop_id.in_(stop_ids)).order_by(Parcel.id)
    ):
        parcels.setdefault(parcel.stop_id, []).append(parcel)
    return {s.id: stop_to_dict(s, parcels.get(s.id, ())) for s in stops}


def _uploads_owed(session: Session, ctx: SyncContext, device_key: str) -> list[dict[str, Any]]:
    """Files this device's events reference that the server does not hold yet.

    Starts from the device's own events and looks each cited file up by its key, in
    two statements whose only possible plans are those index walks: the tenant's
    pending files (tens of thousands at the end of a shift, as files upload after the
    sync) are never the starting point, whatever the planner's statistics say. The
    cost follows the device's own history, not the tenant's crowd.
    """
    cited = sorted(
        set(
            session.scalars(
                select(EventEvidence.sha256)
                .join(DoorEventRow, DoorEventRow.id == EventEvidence.event_row_id)
                .where(
                    DoorEventRow.org_id == ctx.principal.org_id,
                    DoorEventRow.device_key == device_key,
                    EventEvidence.org_id == ctx.principal.org_id,
                )
            )
        )
    )
    # Plain rows, not ORM objects: a batch can owe hundreds of files. Pending is judged
    # here rather than in SQL, so only the (org_id, sha256) key can serve the lookup.
    pending = sorted(
        (row for row in _files(session, ctx.principal.org_id, cited) if row.verified_at is None),
        key=lambda row: row.id,
    )[:MAX_UPLOADS_LISTED]
    targets = evidence.upload_targets(ctx.store, pending, ctx.api_base)
    for target in targets:
        if target["method"] == "POST":
            target["complete_url"] = f"{ctx.api_base}/api/v1/evidence/{target['sha256']}/complete"
    return targets


def _files(session: Session, org_id: int, hashes: list[str]) -> list[Row[Any]]:
    """The evidence_file rows of ``hashes``, looked up by their unique key."""
    rows: list[Row[Any]] = []
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        rows.extend(
            session.execute(
                select(
                    EvidenceFile.id,
                    EvidenceFile.org_id,
                    EvidenceFile.sha256,
                    EvidenceFile.content_type,
                    EvidenceFile.size,
                    EvidenceFile.verified_at,
                ).where(
                    EvidenceFile.org_id == org_id,
                    key_in(session, EvidenceFile.sha256, hashes[start : start + LOOKUP_CHUNK]),
                )
            )
        )
    return rows


def conflict_to_dict(conflict: Conflict) -> dict[str, Any]:
    return {
        "id": conflict.id,
        "stop_id": conflict.stop_id,
        "kind": conflict.kind,
        "event_ids": list(conflict.event_ids),
        "detail": conflict.detail,
        "status": conflict.status,
    }
