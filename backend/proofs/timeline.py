"""The timeline of one stop, from plan to proof, for the customer-service evidence view.

Every entry comes from a row the server already keeps (the plan feed, the door
events, the evidence files, the proofs, conflicts, decisions and disputes), so the
timeline is a reading of the record, never a second record that could disagree.

Door events are placed at the device's clock (``source="device"``): that is when the
driver says it happened, and the detail shows when the server actually heard of it
and how far the device clock was off. When the device's clock was measured off by
more than a few seconds (``clock_skew_ms``, taken at sync), the event is placed at
the device's time corrected by that skew, so a phone set two hours fast does not put
its delivery after the dispute about it; the detail still quotes the raw device time.
Everything else is placed at the server clock.

The number of queries is fixed (one per source, plus one for usernames and one for
device revocations), whatever
the number of events, files or notes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from backend.admin.devices import revocations, revoked_in_between
from backend.auth.service import usernames
from backend.db.models import (
    Conflict,
    Dispute,
    DisputeNote,
    DoorEventRow,
    EventEvidence,
    EvidenceFile,
    ExceptionDecision,
    PlanChange,
    Proof,
    Stop,
)
from backend.domain.events import ChangeOp, EventResultStatus

DEVICE = "device"
SERVER = "server"

# A report that reached the server later than this was held on a device without network.
OFFLINE_AFTER = timedelta(minutes=5)
HASH_PREFIX = 12

_PLAN_KINDS = ("planned", "cancelled", "sent_to_device", "removed_from_device")
_DOOR_KINDS = ("arrived", "note", "failed", "delivered")
_SERVER_KINDS = (
    "device_revoked",
    "file_received",
    "proof_sealed",
    "conflict_raised",
    "conflict_superseded",
    "conflict_resolved",
    "decision",
    "replanned",
    "dispute_opened",
    "dispute_note",
    "dispute_resolved",
    "redelivery_planned",
)
# Every kind an entry can have, for callers that style or filter them.
KINDS = (*_PLAN_KINDS, *_DOOR_KINDS, *_SERVER_KINDS)

# Tie order: the plan before the door, the door before the server's reactions to it.
# Door kinds share one rank so that simultaneous reports keep their HLC order.
_TIE_RANK = {
    **{kind: rank for rank, kind in enumerate(_PLAN_KINDS)},
    **{kind: len(_PLAN_KINDS) for kind in _DOOR_KINDS},
    **{kind: len(_PLAN_KINDS) + 1 + rank for rank, kind in enumerate(_SERVER_KINDS)},
}

_DECISION_WORDS = {"accept": "accepted", "reject": "rejected", "annotate": "annotated"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    """UTC, timezone-aware."""
    kind: str
    """A stable machine word, one of :data:`KINDS`."""
    title: str
    """A short sentence for a person."""
    detail: str = ""
    actor: str | None = None
    """Username of who did it, when the record says."""
    source: str = SERVER
    """``"device"`` when ``at`` is the device's clock, else ``"server"``."""


@dataclass(frozen=True)
class _CitedFile:
    event_row_id: int
    sha256: str
    kind: str
    content_type: str | None
    size: int | None
    verified_at: datetime | None
    purged_at: datetime | None


@dataclass(frozen=True)
class _Decision:
    row: ExceptionDecision
    replanned_order_number: str | None
    replanned_service_date: date | None


@dataclass(frozen=True)
class _StopRecords:
    """Everything the server holds about one stop, loaded with a fixed number of queries."""

    plan_changes: Sequence[PlanChange]
    events: Sequence[DoorEventRow]
    files: Sequence[_CitedFile]
    proofs: Sequence[Proof]
    conflicts: Sequence[Conflict]
    decisions: Sequence[_Decision]
    disputes: Sequence[Dispute]
    dispute_notes: Sequence[DisputeNote]
    usernames: dict[int, str]
    # When each reporting device was last revoked (backend.admin.devices).
    revocations: dict[str, datetime]

    def username(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        # A user row the record points to should exist (RESTRICT); say which id if not.
        return self.usernames.get(user_id, f"user #{user_id}")


def build_timeline(session: Session, stop: Stop) -> list[TimelineEntry]:
    """Every recorded moment of ``stop``, oldest first (see the module docstring)."""
    records = _load(session, stop)
    entries = [
        *_plan_entries(stop, records),
        *_door_entries(records),
        *_revocation_entries(records),
        *_file_entries(records),
        *_proof_entries(records),
        *_conflict_entries(records),
        *_decision_entries(records),
        *_dispute_entries(records),
    ]
    # sorted() is stable: entries of equal rank keep the order their source gave them.
    return sorted(entries, key=_sort_key)


def _sort_key(entry: TimelineEntry) -> tuple[datetime, int]:
    # An event type added later sorts with the door reports rather than failing the view.
    return entry.at, _TIE_RANK.get(entry.kind, _TIE_RANK["arrived"])


# Loading ---------------------------------------------------------------------------


def _load(session: Session, stop: Stop) -> _StopRecords:
    plan_changes = session.scalars(
        select(PlanChange).where(PlanChange.stop_id == stop.id).order_by(PlanChange.seq)
    ).all()
    events = session.scalars(
        select(DoorEventRow)
        .where(DoorEventRow.stop_id == stop.id)
        .order_by(DoorEventRow.hlc, DoorEventRow.event_id)
    ).all()
    proofs = session.scalars(
        select(Proof).where(Proof.stop_id == stop.id).order_by(Proof.created_at, Proof.id)
    ).all()
    conflicts = session.scalars(
        select(Conflict).where(Conflict.stop_id == stop.id).order_by(Conflict.id)
    ).all()
    disputes = session.scalars(
        select(Dispute).where(Dispute.stop_id == stop.id).order_by(Dispute.id)
    ).all()
    dispute_notes = session.scalars(
        select(DisputeNote)
        .join(Dispute, Dispute.id == DisputeNote.dispute_id)
        .where(Dispute.stop_id == stop.id)
        .order_by(DisputeNote.id)
    ).all()
    decisions = _load_decisions(session, stop)
    user_ids = (
        *(change.driver_id for change in plan_changes),
        *(event.driver_id for event in events),
        *(conflict.resolved_by for conflict in conflicts),
        *(decision.row.user_id for decision in decisions),
        *(dispute.opened_by for dispute in disputes),
        *(dispute.resolved_by for dispute in disputes),
        *(note.user_id for note in dispute_notes),
    )
    return _StopRecords(
        plan_changes=plan_changes,
        events=events,
        files=_load_cited_files(session, stop),
        proofs=proofs,
        conflicts=conflicts,
        decisions=decisions,
        disputes=disputes,
        dispute_notes=dispute_notes,
        usernames=usernames(session, user_ids),
        revocations=revocations(session, (event.device_key for event in events)),
    )


def _load_cited_files(session: Session, stop: Stop) -> list[_CitedFile]:
    rows = session.execute(
        select(
            EventEvidence.event_row_id,
            EventEvidence.sha256,
            EventEvidence.kind,
            EvidenceFile.content_type,
            EvidenceFile.size,
            EvidenceFile.verified_at,
            EvidenceFile.purged_at,
        )
        .join(DoorEventRow, DoorEventRow.id == EventEvidence.event_row_id)
        # Outer: a link without its file row still shows, as a file not received.
        .outerjoin(
            EvidenceFile,
            (EvidenceFile.sha256 == EventEvidence.sha256)
            & (EvidenceFile.org_id == EventEvidence.org_id),
        )
        .where(DoorEventRow.stop_id == stop.id)
        .order_by(EventEvidence.id)
    ).all()
    return [_CitedFile(*row) for row in rows]


def _load_decisions(session: Session, stop: Stop) -> list[_Decision]:
    replanned = aliased(Stop)
    rows = session.execute(
        select(ExceptionDecision, replanned.order_number, replanned.service_date)
        .outerjoin(replanned, replanned.id == ExceptionDecision.replanned_stop_id)
        .where(ExceptionDecision.stop_id == stop.id)
        .order_by(ExceptionDecision.id)
    ).all()
    return [_Decision(*row) for row in rows]


# The plan --------------------------------------------------------------------------


def _plan_entries(stop: Stop, records: _StopRecords) -> Iterator[TimelineEntry]:
    yield TimelineEntry(
        at=stop.created_at,
        kind="planned",
        title=f"Planned as order {stop.order_number}",
        detail=f"for {stop.service_date.isoformat()} at {stop.address}",
    )
    if stop.cancelled_at is not None:
        yield TimelineEntry(
            at=stop.cancelled_at,
            kind="cancelled",
            title="Cancelled by dispatch",
            detail=f"reason: {stop.cancel_reason}" if stop.cancel_reason else "",
        )
    sent: set[tuple[int, int]] = set()
    for change in records.plan_changes:
        yield _plan_change_entry(change, records.username(change.driver_id), sent)


def _plan_change_entry(
    change: PlanChange, driver: str | None, sent: set[tuple[int, int]]
) -> TimelineEntry:
    """``sent`` collects the (driver, version) pairs already sent: a repeat of one is
    the server pushing a status change, not a new version of the plan."""
    if change.kind != ChangeOp.UPSERT:
        return TimelineEntry(
            at=change.created_at,
            kind="removed_from_device",
            title=f"Removed from {driver}'s device",
            detail=f"at version {change.stop_version}: the stop was reassigned or unassigned",
        )
    key = (change.driver_id, change.stop_version)
    repeat = key in sent
    sent.add(key)
    return TimelineEntry(
        at=change.created_at,
        kind="sent_to_device",
        title=(
            f"Status update sent to {driver}'s device (version {change.stop_version})"
            if repeat
            else f"Version {change.stop_version} sent to {driver}'s device"
        ),
        # The feed does not record when the device fetched it, only when it was published.
        detail=f"published in {driver}'s plan feed; the device fetches it at its next sync",
    )


# The door --------------------------------------------------------------------------


def _door_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    files_by_event: dict[int, list[_CitedFile]] = defaultdict(list)
    for cited in records.files:
        files_by_event[cited.event_row_id].append(cited)
    for event in records.events:
        driver = records.username(event.driver_id)
        yield TimelineEntry(
            at=_on_server_clock(event),
            kind=event.type,
            title=f"{_door_headline(event)} (reported by {driver} on {event.device_key})",
            detail=_door_detail(event, files_by_event[event.id]),
            actor=driver,
            source=DEVICE,
        )


def _revocation_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    """A device revoked between recording reports here and sending them: the reports
    still count (evidence is never discarded), and the timeline says so."""
    for device_key, revoked_at in sorted(records.revocations.items()):
        held = [e for e in records.events if revoked_in_between(e, records.revocations)]
        held = [e for e in held if e.device_key == device_key]
        if held:
            yield TimelineEntry(
                at=revoked_at,
                kind="device_revoked",
                title=f"Device {device_key} revoked by an admin",
                detail=f"{len(held)} report(s) it recorded before were received after it "
                "signed in again with a password; they count",
            )


# Below this, a device clock is as good as the network delay that measured it.
SKEW_CORRECTED_ABOVE = timedelta(seconds=5)


def _on_server_clock(event: DoorEventRow) -> datetime:
    """When the event happened by the server's clock: the device's time less its skew."""
    if event.clock_skew_ms is None:
        return event.recorded_at
    skew = timedelta(milliseconds=event.clock_skew_ms)
    return event.recorded_at - skew if abs(skew) > SKEW_CORRECTED_ABOVE else event.recorded_at


def _door_headline(event: DoorEventRow) -> str:
    payload = event.payload
    if event.type == "delivered":
        recipient = payload.get("recipient_name")
        return f"Delivered to {recipient}" if recipient else "Delivered"
    if event.type == "failed":
        return f"Failed: {_words(str(payload.get('reason') or 'no reason given'))}"
    if event.type == "note":
        return f'Note: "{payload.get("text", "")}"'
    return event.type.capitalize()


def _door_detail(event: DoorEventRow, files: Sequence[_CitedFile]) -> str:
    parts = [
        f"recorded on {event.device_key} at {_clock(event.recorded_at)}, "
        f"received {_clock(event.received_at, event.recorded_at)} "
        f"({_delay(event.received_at - event.recorded_at)})",
        f"clock skew {_skew(event.clock_skew_ms)}",
    ]
    where_left = event.payload.get("where_left")
    if event.type == "delivered" and where_left:
        parts.append(f"left: {_words(str(where_left))}")
    failure_note = event.payload.get("note")
    if event.type == "failed" and failure_note:
        parts.append(f'driver\'s note: "{failure_note}"')
    if files:
        parts.append("evidence: " + ", ".join(_cited(cited) for cited in files))
    if event.result != EventResultStatus.APPLIED:
        answer = f"{event.result} ({_words(event.result_code)})" if event.result_code else ""
        parts.append(f"server answered {answer or event.result}")
    return "; ".join(parts)


def _cited(cited: _CitedFile) -> str:
    received = "" if cited.verified_at is not None else " (not received yet)"
    return f"{cited.kind} {cited.sha256[:HASH_PREFIX]}{received}"


# Evidence and proofs ---------------------------------------------------------------


def _file_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    seen: set[str] = set()
    for cited in records.files:
        # Several reports may cite one file; it arrived once.
        if cited.verified_at is None or cited.sha256 in seen:
            continue
        seen.add(cited.sha256)
        yield TimelineEntry(
            at=cited.verified_at,
            kind="file_received",
            title=f"{cited.kind.capitalize()} received, hash checked "
            f"({cited.sha256[:HASH_PREFIX]})",
            detail=_file_detail(cited),
        )


def _file_detail(cited: _CitedFile) -> str:
    parts = [f"{cited.content_type}, {cited.size} bytes", f"sha256 {cited.sha256}"]
    if cited.purged_at is not None:
        parts.append(
            f"bytes deleted by retention on {cited.purged_at.date().isoformat()}; "
            "the hash still verifies"
        )
    return "; ".join(parts)


def _proof_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    for proof in records.proofs:
        kid = proof.receipt.get("kid", "unknown")
        yield TimelineEntry(
            at=proof.created_at,
            kind="proof_sealed",
            title=f"Proof sealed (digest {proof.digest[:HASH_PREFIX]}, receipt key {kid})",
            detail=_proof_detail(proof),
        )


def _proof_detail(proof: Proof) -> str:
    count = len(proof.file_hashes)
    parts = [
        f"for report {proof.event_id}",
        f"{count} evidence file{'' if count == 1 else 's'}",
    ]
    geo: dict[str, Any] = proof.geo_check or {}
    if geo.get("outcome"):
        distance = geo.get("distance_m")
        where = f", {distance} m from the stop" if distance is not None else ""
        parts.append(f"geo check {_words(str(geo['outcome']))}{where}")
    return "; ".join(parts)


# Back office -----------------------------------------------------------------------


def _conflict_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    for conflict in records.conflicts:
        what = _words(conflict.kind)
        yield TimelineEntry(
            at=conflict.created_at,
            kind="conflict_raised",
            title=f"Conflict raised: {what}",
            detail=conflict.detail,
        )
        if conflict.status == "superseded":
            yield TimelineEntry(
                # Superseding sets resolved_at; rows from before it did may lack it.
                at=conflict.resolved_at or conflict.created_at,
                kind="conflict_superseded",
                title=f"Conflict no longer applies: {what}",
                detail=conflict.resolution_note,
            )
        elif conflict.status != "open" and conflict.resolved_at is not None:
            resolver = records.username(conflict.resolved_by)
            yield TimelineEntry(
                at=conflict.resolved_at,
                kind="conflict_resolved",
                title=f"Conflict resolved: {what}" + (f" (by {resolver})" if resolver else ""),
                detail=conflict.resolution_note,
                actor=resolver,
            )


def _decision_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    # Rejecting several exceptions of a stop re-plans it once; every row names that stop.
    replanned: set[int] = set()
    for decision in records.decisions:
        row = decision.row
        user = records.username(row.user_id)
        verb = _DECISION_WORDS.get(row.decision, row.decision)
        yield TimelineEntry(
            at=row.created_at,
            kind="decision",
            title=f"Exception {verb}: {_words(row.kind)} (by {user})",
            detail=f'note: "{row.note}"' if row.note else "",
            actor=user,
        )
        if row.replanned_stop_id is not None and row.replanned_stop_id not in replanned:
            replanned.add(row.replanned_stop_id)
            yield _replanned_entry(decision, user)


def _replanned_entry(decision: _Decision, user: str | None) -> TimelineEntry:
    day = decision.replanned_service_date
    return TimelineEntry(
        at=decision.row.created_at,
        kind="replanned",
        title=f"Re-planned for another attempt as order {decision.replanned_order_number}",
        detail=f"new stop for {day.isoformat()}" if day else "",
        actor=user,
    )


def _dispute_entries(records: _StopRecords) -> Iterator[TimelineEntry]:
    for dispute in records.disputes:
        yield from _dispute_lifecycle(dispute, records)
    for note in records.dispute_notes:
        author = records.username(note.user_id)
        yield TimelineEntry(
            at=note.created_at,
            kind="dispute_note",
            title=f"Note on dispute #{note.dispute_id} (by {author})",
            detail=note.text,
            actor=author,
        )


def _dispute_lifecycle(dispute: Dispute, records: _StopRecords) -> Iterator[TimelineEntry]:
    # A dispute without an opener was opened by the recipient from the tracking page.
    opener = records.username(dispute.opened_by) or "the recipient"
    reference = dispute.customer_reference
    yield TimelineEntry(
        at=dispute.opened_at,
        kind="dispute_opened",
        title=f"Dispute #{dispute.id} opened: {_words(dispute.reason)} (by {opener})",
        detail=f"customer reference {reference}" if reference else "",
        actor=opener,
    )
    if dispute.resolved_at is None:
        return
    resolver = records.username(dispute.resolved_by)
    remedy = f", {dispute.remedy}" if dispute.remedy else ""
    yield TimelineEntry(
        at=dispute.resolved_at,
        kind="dispute_resolved",
        title=f"Dispute #{dispute.id} {dispute.status}{remedy}"
        + (f" (by {resolver})" if resolver else ""),
        detail=_resolution_detail(dispute),
        actor=resolver,
    )
    if dispute.redelivery_stop_id is not None:
        yield TimelineEntry(
            at=dispute.resolved_at,
            kind="redelivery_planned",
            title=f"Redelivery planned as stop #{dispute.redelivery_stop_id} for dispatch",
            detail=f"settles dispute #{dispute.id}",
            actor=resolver,
        )


def _resolution_detail(dispute: Dispute) -> str:
    parts = [dispute.resolution] if dispute.resolution else []
    if dispute.refund_amount is not None:
        parts.append(f"refund {dispute.refund_amount:.2f} {dispute.refund_currency}")
    if dispute.evidence_cited:
        parts.append("evidence cited: " + ", ".join(dispute.evidence_cited))
    return "; ".join(parts)


# Wording ---------------------------------------------------------------------------


def _words(code: str) -> str:
    return code.replace("_", " ")


def _clock(moment: datetime, same_day_as: datetime | None = None) -> str:
    """``12:03:10 UTC``, with the date when it differs from ``same_day_as``'s."""
    if same_day_as is None or moment.date() == same_day_as.date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _delay(delay: timedelta) -> str:
    if delay < timedelta(0):
        # The device clock ran ahead of the server's: the skew explains it.
        return f"{_duration(-delay)} before the device's time"
    later = f"{_duration(delay)} later"
    return f"{later}, offline" if delay > OFFLINE_AFTER else later


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _skew(skew_ms: int | None) -> str:
    if skew_ms is None:
        return "not reported (the device sent no clock reading)"
    if abs(skew_ms) < 50:
        return "0.0 s"  # rounds to nothing: a sign here would only suggest a direction
    sign = "-" if skew_ms < 0 else "+"
    if abs(skew_ms) < 60_000:
        return f"{sign}{abs(skew_ms) / 1000:.1f} s"
    return f"{sign}{_duration(timedelta(milliseconds=abs(skew_ms)))}"
