"""One sync round trip: apply the device's events, then hand back the plan changes.

The whole request is one transaction under the tenant's plan lock: either every
accepted event, its files' rows, proofs, conflicts and derived statuses are committed
together, or (on a database failure) nothing is and the device simply retries. Events
are judged one by one: a rejected event is answered on its own line and never blocks
the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
from backend.domain.events import (
    DoorEvent,
    EventRejected,
    EventType,
    event_fingerprint,
    parse_event,
)
from backend.errors import ApiError
from backend.evidence import service as evidence
from backend.evidence.storage import EvidenceStore
from backend.manifests.serialize import stop_to_dict
from backend.sync import changes
from backend.sync.derive import rederive_stop
from backend.sync.proofs import ProofSealer, seal_delivery
from backend.sync.schemas import MAX_EVENTS_PER_BATCH

APPLIED = "applied"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"


@dataclass
class SyncContext:
    principal: Principal
    store: EvidenceStore
    sealer: ProofSealer
    api_base: str
    now: datetime
    geofence_threshold_m: int
    skew_ms: int | None = None
    touched_stops: dict[int, Stop] = field(default_factory=dict)
    new_event_ids: dict[str, DoorEventRow] = field(default_factory=dict)


def run_sync(session: Session, ctx: SyncContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``body["events"]``, then pull changes after ``body["cursor"]``."""
    raw_events = body["events"]
    if len(raw_events) > MAX_EVENTS_PER_BATCH:
        raise ApiError(
            413, "batch_too_large", f"send at most {MAX_EVENTS_PER_BATCH} events per request"
        )
    device_key = body["device_id"]
    if ctx.principal.device_key is not None and device_key != ctx.principal.device_key:
        raise ApiError(
            403, "device_mismatch", "the device_id differs from the device that logged in"
        )
    if body.get("sent_at") is not None:
        ctx.skew_ms = int((body["sent_at"] - ctx.now).total_seconds() * 1000)

    begin_write(session)
    changes.lock_plan(session, ctx.principal.org_id)
    _touch_device(session, ctx, device_key)
    results = [_ingest(session, ctx, raw, device_key) for raw in raw_events]
    conflict_rows = _rederive(session, ctx)
    _mark_conflicting_results(results, conflict_rows, ctx)
    cursor, page_changes, has_more = _pull(session, ctx, body["cursor"], body["pull_limit"])
    uploads = _uploads_owed(session, ctx, device_key)
    session.commit()
    return {
        "results": results,
        "changes": page_changes,
        "cursor": str(cursor),
        "has_more": has_more,
        "uploads": uploads,
        "conflicts": [conflict_to_dict(c) for c in conflict_rows],
        "server_time": _iso(ctx.now),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _touch_device(session: Session, ctx: SyncContext, device_key: str) -> None:
    device = session.scalars(select(Device).where(Device.device_key == device_key)).one_or_none()
    if device is None:
        device = Device(org_id=ctx.principal.org_id, device_key=device_key, first_seen_at=ctx.now)
        session.add(device)
    device.user_id = ctx.principal.user_id
    device.last_seen_at = ctx.now


def _rejected(
    event_id: Any, code: str, message: str, field_name: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": event_id if isinstance(event_id, str) else None,
        "status": REJECTED,
        "code": code,
        "message": message,
    }
    if field_name:
        result["field"] = field_name
    return result


def _ingest(session: Session, ctx: SyncContext, raw: Any, device_key: str) -> dict[str, Any]:
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(raw, dict):
        return _rejected(None, "invalid_event", "each event must be a JSON object")
    try:
        event = parse_event(raw, device_key)
    except EventRejected as exc:
        return _rejected(raw_id, exc.code, exc.message, exc.field)
    fingerprint = event_fingerprint(event)
    existing = session.scalars(
        select(DoorEventRow).where(DoorEventRow.event_id == event.id)
    ).one_or_none()
    if existing is not None:
        if existing.fingerprint != fingerprint:
            return _rejected(
                event.id,
                "event_id_reused",
                "an event with this id but different content was already received",
            )
        return {
            "id": event.id,
            "status": DUPLICATE,
            "original_status": existing.result,
            **({"code": existing.result_code} if existing.result_code else {}),
        }
    stop = session.get(Stop, event.stop_id)
    if stop is None:
        return _rejected(event.id, "stop_not_assigned", "this stop was never assigned to you")
    if event.base_version > stop.version:
        return _rejected(
            event.id, "invalid_base_version", "base_version is newer than any version of the stop"
        )
    if not changes.driver_saw_version(session, ctx.principal.user_id, stop.id, event.base_version):
        return _rejected(
            event.id,
            "stop_not_assigned",
            "this version of the stop was never assigned to you",
        )
    row = _store_event(session, ctx, event, fingerprint)
    ctx.touched_stops[stop.id] = stop
    ctx.new_event_ids[event.id] = row
    result: dict[str, Any] = {"id": event.id, "status": APPLIED}
    if event.type is EventType.DELIVERED:
        proof = seal_delivery(
            session, ctx.sealer, stop, event, ctx.principal, ctx.geofence_threshold_m, ctx.now
        )
        result["receipt"] = proof.receipt
    return result


def _store_event(
    session: Session, ctx: SyncContext, event: DoorEvent, fingerprint: str
) -> DoorEventRow:
    row = DoorEventRow(
        org_id=ctx.principal.org_id,
        event_id=event.id,
        stop_id=event.stop_id,
        driver_id=ctx.principal.user_id,
        device_key=event.device_id,
        type=event.type.value,
        recorded_at=event.recorded_at,
        received_at=ctx.now,
        hlc=str(event.hlc),
        base_version=event.base_version,
        payload=dict(event.payload),
        evidence=[ref.to_dict() for ref in event.evidence],
        clock_skew_ms=ctx.skew_ms,
        fingerprint=fingerprint,
        result=APPLIED,
    )
    session.add(row)
    session.flush()
    for ref in event.evidence:
        session.add(
            EventEvidence(
                org_id=ctx.principal.org_id,
                event_row_id=row.id,
                sha256=ref.sha256,
                kind=ref.kind.value,
            )
        )
    evidence.register_files(
        session,
        ctx.principal.org_id,
        [(ref.sha256, ref.content_type, ref.size) for ref in event.evidence],
    )
    return row


def _rederive(session: Session, ctx: SyncContext) -> list[Conflict]:
    conflicts: list[Conflict] = []
    for stop in ctx.touched_stops.values():
        conflicts.extend(rederive_stop(session, stop, ctx.now))
    return conflicts


def _mark_conflicting_results(
    results: list[dict[str, Any]], conflicts: Iterable[Conflict], ctx: SyncContext
) -> None:
    """An event of this batch that is part of an open conflict is answered ``conflict``."""
    by_event: dict[str, Conflict] = {}
    for conflict in conflicts:
        for event_id in conflict.event_ids:
            by_event.setdefault(event_id, conflict)
    for result in results:
        found = by_event.get(result.get("id") or "")
        if result["status"] == APPLIED and found is not None:
            result["status"] = CONFLICT
            result["code"] = found.kind
            result["message"] = found.detail
            stored = ctx.new_event_ids[result["id"]]
            stored.result = CONFLICT
            stored.result_code = found.kind
    for result in results:
        row = ctx.new_event_ids.get(result.get("id") or "")
        if row is not None and result["status"] in (APPLIED, CONFLICT):
            result["stop_status"] = ctx.touched_stops[row.stop_id].status.value


def _pull(
    session: Session, ctx: SyncContext, cursor: str | None, limit: int
) -> tuple[int, list[dict[str, Any]], bool]:
    driver_id = ctx.principal.user_id
    if cursor is None:
        return _snapshot(session, ctx)
    page = changes.changes_since(session, driver_id, int(cursor), limit)
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
    """Every stop the driver currently holds for recent and coming days, as upserts."""
    cursor = changes.current_cursor(session, ctx.principal.user_id)
    stop_ids = changes.stops_held_by(session, ctx.principal.user_id, ctx.now)
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
    """Files this device's events reference that the server does not hold yet."""
    pending = session.scalars(
        select(EvidenceFile)
        .where(
            EvidenceFile.verified_at.is_(None),
            EvidenceFile.sha256.in_(
                select(EventEvidence.sha256)
                .join(DoorEventRow, DoorEventRow.id == EventEvidence.event_row_id)
                .where(DoorEventRow.device_key == device_key)
            ),
        )
        .order_by(EvidenceFile.id)
        .limit(200)
    ).all()
    targets = evidence.upload_targets(ctx.store, pending, ctx.api_base)
    for target in targets:
        if target["method"] == "POST":
            target["complete_url"] = f"{ctx.api_base}/api/v1/evidence/{target['sha256']}/complete"
    return targets


def conflict_to_dict(conflict: Conflict) -> dict[str, Any]:
    return {
        "id": conflict.id,
        "stop_id": conflict.stop_id,
        "kind": conflict.kind,
        "event_ids": list(conflict.event_ids),
        "detail": conflict.detail,
        "status": conflict.status,
    }
