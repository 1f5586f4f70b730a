"""Applying a batch of door events exactly once, set-wise.

The batch is judged event by event (each gets its own result), but the database work
is done for the whole batch at once: one query finds events already received, one
loads the stops, one checks what the driver had seen, and bulk inserts store events,
file links, files and proofs. That keeps an end-of-shift batch of 150 deliveries to a
few dozen statements instead of thousands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, EventEvidence, PlanChange, Proof, Stop
from backend.domain.events import (
    DoorEvent,
    EventRejected,
    EventResultStatus,
    EventType,
    event_fingerprint,
    parse_event,
)
from backend.evidence import service as evidence
from backend.notifications import triggers as notifications
from backend.sync.changes import UPSERT, lock_stops
from backend.sync.derive import key_in
from backend.sync.seal import seal_deliveries
from backend.webhooks import service as webhooks

if TYPE_CHECKING:
    from backend.sync.service import SyncContext

log = logging.getLogger(__name__)

# The tables themselves: inserted into with Core, not through the ORM (see _store).
DOOR_EVENT: Table = DoorEventRow.__table__  # type: ignore[assignment]
EVENT_EVIDENCE: Table = EventEvidence.__table__  # type: ignore[assignment]
PROOF: Table = Proof.__table__  # type: ignore[assignment]

# The protocol's words for an event's result, defined once in the shared rules.
APPLIED = EventResultStatus.APPLIED
DUPLICATE = EventResultStatus.DUPLICATE
CONFLICT = EventResultStatus.CONFLICT
REJECTED = EventResultStatus.REJECTED


@dataclass
class IngestOutcome:
    results: list[dict[str, Any]]
    # Events stored by this batch: event id -> stop id.
    stored: dict[str, int] = field(default_factory=dict)
    touched: dict[int, Stop] = field(default_factory=dict)


def rejected(
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


def _parse(
    raw_events: Sequence[Any], device_key: str, now: datetime
) -> tuple[list[dict[str, Any] | None], list[tuple[int, DoorEvent, str]]]:
    results: list[dict[str, Any] | None] = [None] * len(raw_events)
    parsed = []
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            results[index] = rejected(None, "invalid_event", "each event must be a JSON object")
            continue
        try:
            event = parse_event(raw, device_key, now)
        except EventRejected as exc:
            results[index] = rejected(raw.get("id"), exc.code, exc.message, exc.field)
            continue
        parsed.append((index, event, event_fingerprint(event)))
    return results, parsed


def ingest_events(
    session: Session, ctx: SyncContext, raw_events: Sequence[Any], device_key: str
) -> IngestOutcome:
    """Judge and store every event of the batch; see the module docstring."""
    results, parsed = _parse(raw_events, device_key, ctx.now)
    stop_ids = {event.stop_id for _, event, _ in parsed}
    # Locked before anything is judged: a concurrent report on one of these stops is
    # either committed and read below, or waits for this batch and then reads it.
    stops = {s.id: s for s in lock_stops(session, stop_ids)}
    ids = [event.id for _, event, _ in parsed]
    previous = (
        {
            row.event_id: row
            for row in session.execute(
                select(
                    DoorEventRow.event_id,
                    DoorEventRow.fingerprint,
                    DoorEventRow.result,
                    DoorEventRow.result_code,
                ).where(key_in(session, DoorEventRow.event_id, ids))
            )
        }
        if ids
        else {}
    )
    seen = (
        {
            (stop_id, version)
            for stop_id, version in session.execute(
                select(PlanChange.stop_id, PlanChange.stop_version).where(
                    PlanChange.driver_id == ctx.principal.user_id,
                    key_in(session, PlanChange.stop_id, stop_ids),
                    PlanChange.kind == UPSERT,
                )
            )
        }
        if stop_ids
        else set()
    )

    outcome = IngestOutcome(results=[])
    accepted: list[tuple[DoorEvent, str, dict[str, Any]]] = []
    in_batch: dict[str, str] = {}
    for index, event, fingerprint in parsed:
        result = _judge(event, fingerprint, previous, in_batch, stops, seen)
        results[index] = result
        if result["status"] == APPLIED:
            in_batch[event.id] = fingerprint
            accepted.append((event, fingerprint, result))
            outcome.touched[event.stop_id] = stops[event.stop_id]
    outcome.results = [r for r in results if r is not None]
    if accepted:
        _store_isolated(session, ctx, accepted, stops, outcome)
    return outcome


def _store_isolated(
    session: Session,
    ctx: SyncContext,
    accepted: list[tuple[DoorEvent, str, dict[str, Any]]],
    stops: dict[int, Stop],
    outcome: IngestOutcome,
) -> None:
    """Store the batch set-wise; should the database refuse it, store event by event.

    parse_event should leave nothing a database refuses. Should a value still slip
    through, only its event is rejected (``unstorable_event``), in a SAVEPOINT of its
    own so the transaction stays usable for the others: a batch refused whole would be
    resent, and refused, for ever. A failing database (OperationalError) still fails
    the request, which the device simply retries.
    """
    try:
        with session.begin_nested():
            _store(session, ctx, accepted, stops, outcome)
        return
    except OperationalError:
        raise
    except (DBAPIError, OverflowError) as exc:
        log.warning("a sync batch could not be stored set-wise (%s); storing event by event", exc)
    outcome.stored.clear()
    for _, _, result in accepted:
        result.pop("receipt", None)
    for item in accepted:
        try:
            with session.begin_nested():
                _store(session, ctx, [item], stops, outcome)
        except OperationalError:
            raise
        except (DBAPIError, OverflowError) as exc:
            event, _, result = item
            log.warning("sync event %s could not be stored: %s", event.id, exc)
            outcome.stored.pop(event.id, None)
            result.clear()
            result.update(
                rejected(event.id, "unstorable_event", "the server could not store this event")
            )


def _judge(
    event: DoorEvent,
    fingerprint: str,
    previous: dict[str, Any],
    in_batch: dict[str, str],
    stops: dict[int, Stop],
    seen: set[tuple[int, int]],
) -> dict[str, Any]:
    earlier = previous.get(event.id)
    if earlier is not None or event.id in in_batch:
        earlier_fingerprint = earlier.fingerprint if earlier is not None else in_batch[event.id]
        if earlier_fingerprint != fingerprint:
            return rejected(
                event.id,
                "event_id_reused",
                "an event with this id but different content was already received",
            )
        result: dict[str, Any] = {"id": event.id, "status": DUPLICATE}
        result["original_status"] = earlier.result if earlier is not None else APPLIED
        if earlier is not None and earlier.result_code:
            result["code"] = earlier.result_code
        return result
    stop = stops.get(event.stop_id)
    if stop is None:
        return rejected(event.id, "stop_not_assigned", "this stop was never assigned to you")
    if event.base_version > stop.version:
        return rejected(
            event.id, "invalid_base_version", "base_version is newer than any version of the stop"
        )
    if (stop.id, event.base_version) not in seen:
        return rejected(
            event.id, "stop_not_assigned", "this version of the stop was never assigned to you"
        )
    return {"id": event.id, "status": APPLIED}


def _store(
    session: Session,
    ctx: SyncContext,
    accepted: list[tuple[DoorEvent, str, dict[str, Any]]],
    stops: dict[int, Stop],
    outcome: IngestOutcome,
) -> None:
    # Core inserts on the tables, not ORM-enabled ones: the ORM's bulk path rebuilds
    # every row's parameters for nothing it adds here (profiled at a fifth of _store).
    org_id = ctx.principal.org_id
    events = [
        {
            "org_id": org_id,
            "event_id": event.id,
            "stop_id": event.stop_id,
            "driver_id": ctx.principal.user_id,
            "device_key": event.device_id,
            "type": event.type.value,
            "recorded_at": event.recorded_at,
            "received_at": ctx.now,
            "hlc": str(event.hlc),
            "base_version": event.base_version,
            "payload": dict(event.payload),
            "evidence": [ref.to_dict() for ref in event.evidence],
            "clock_skew_ms": ctx.skew_ms,
            "not_before": ctx.not_before,
            "fingerprint": fingerprint,
            "result": APPLIED,
            "result_code": "",
        }
        for event, fingerprint, _ in accepted
    ]
    row_ids = _insert_events(session, events)
    links = [
        {"org_id": org_id, "event_row_id": row_id, "sha256": ref.sha256, "kind": ref.kind.value}
        for row_id, (event, _, _) in zip(row_ids, accepted, strict=True)
        for ref in event.evidence
    ]
    if links:
        session.execute(insert(EVENT_EVIDENCE), links)
    evidence.register_files(
        session,
        org_id,
        [
            (ref.sha256, ref.content_type, ref.size)
            for event, _, _ in accepted
            for ref in event.evidence
        ],
    )
    deliveries = []
    for event, _, result in accepted:
        outcome.stored[event.id] = event.stop_id
        if event.type is EventType.DELIVERED:
            deliveries.append((stops[event.stop_id], event, result))
    if deliveries:
        proofs = seal_deliveries(
            ctx.sealer,
            [(stop, event) for stop, event, _ in deliveries],
            ctx.principal,
            ctx.geofence_threshold_m,
            ctx.now,
        )
        for proof, (_, _, result) in zip(proofs, deliveries, strict=True):
            result["receipt"] = proof["receipt"]
        session.execute(insert(PROOF), proofs)
    _queue_webhooks(session, org_id, accepted, stops)
    notifications.on_door_events(session, org_id, accepted, stops, ctx.service_date)


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert door_event rows in order; their ids, in the same order.

    On PostgreSQL the ids are drawn from the table's sequence first, in one query, so
    the rows go in as one executemany that psycopg pipelines with a statement it
    prepares once per connection. A RETURNING insert of the batch would instead be one
    statement of 17 parameters a row, which psycopg parses afresh on every request and
    never prepares (it prepares none with over 50 parameters). SQLite cannot promise
    the order of a multi-row RETURNING, so SQLAlchemy would send it one INSERT per row:
    there the rows go in as one executemany and their ids are read back by event id
    (unique per tenant; the batch holds each id once).
    """
    if session.get_bind().dialect.name == "postgresql":
        ids = sorted(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('door_event', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            )
        )
        for row_id, row in zip(ids, rows, strict=True):
            row["id"] = row_id
        session.execute(insert(DOOR_EVENT), rows)
        return ids
    session.execute(insert(DOOR_EVENT), rows)
    org_id = rows[0]["org_id"]
    # A comprehension, not dict(): a Result has keys() (its columns), so dict() would
    # take it for a mapping.
    by_event_id = {
        event_id: row_id
        for event_id, row_id in session.execute(
            select(DOOR_EVENT.c.event_id, DOOR_EVENT.c.id).where(
                DOOR_EVENT.c.org_id == org_id,
                DOOR_EVENT.c.event_id.in_([row["event_id"] for row in rows]),
            )
        )
    }
    return [by_event_id[row["event_id"]] for row in rows]


def _queue_webhooks(
    session: Session,
    org_id: int,
    accepted: list[tuple[DoorEvent, str, dict[str, Any]]],
    stops: dict[int, Stop],
) -> None:
    for event_type in (EventType.DELIVERED, EventType.FAILED):
        payloads = [
            {
                "event_id": event.id,
                "stop_id": event.stop_id,
                "order_number": stops[event.stop_id].order_number,
                "recorded_at": event.recorded_at.isoformat(),
                **(
                    {"reason": event.payload.get("reason")}
                    if event_type is EventType.FAILED
                    else {}
                ),
                **({"receipt": result.get("receipt")} if "receipt" in result else {}),
            }
            for event, _, result in accepted
            if event.type is event_type
        ]
        if payloads:
            webhooks.enqueue(session, org_id, event_type.value, payloads)
