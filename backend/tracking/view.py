"""What a recipient sees behind their tracking link, built from the server's records.

Contract: :func:`open_link` turns a token into the order's latest attempt (following
``stop.replanned_as``) and scopes the session to its tenant, or refuses with the one
``not_found`` every unknown, malformed, expired or revoked token gets.
:func:`recipient_view` builds the page's data as plain values, shared by the HTML page
and the JSON API.

Privacy, enforced here and nowhere else: the view names only this order's attempts;
the driver by first name; the driver's position only while this stop is next; never
another stop, another recipient, the device, or the driver's account. The proof is
shown as its digest, receipt and the server's verification, not its sealed fields
(those name the device).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.orm import Session

from backend.admin.settings import org_settings
from backend.db.models import (
    Dispute,
    DoorEventRow,
    DriverPosition,
    EvidenceFile,
    Manifest,
    Organization,
    PromiseChange,
    Proof,
    RecipientRequest,
    Stop,
    StopEta,
    User,
)
from backend.db.session import scope_to_tenant
from backend.domain.clock import utc_text, zone
from backend.domain.digest import verify_bundle
from backend.domain.geo import haversine_m
from backend.domain.org_settings import OrgSettings
from backend.domain.refusal import Refusal
from backend.domain.stops import StopStatus
from backend.domain.tracking import (
    PROBLEM_LABELS,
    Problem,
    RequestKind,
    RequestStatus,
    driver_first_name,
    eta_phrase,
    etag_of,
    failure_label,
    where_left_label,
)
from backend.sync.derive import winning_event_id
from backend.tracking import tokens

# A chain of re-planned attempts longer than this is a data error, not an order.
MAX_ATTEMPTS = 50
DELIVERED = frozenset({StopStatus.DELIVERED, StopStatus.EVIDENCE_PENDING})


@dataclass(frozen=True)
class Link:
    """An opened tracking link: the tenant, the order's attempts (first to latest)."""

    org_id: int
    attempts: tuple[Stop, ...]

    @property
    def stop(self) -> Stop:
        """The order's latest attempt: what the page is about."""
        return self.attempts[-1]


def link_not_found() -> Refusal:
    # One message for every reason, so a link's state cannot be probed.
    return Refusal("not_found", "no tracking page at this address")


def open_link(session: Session, token: str, now: datetime) -> Link:
    row = tokens.resolve(session, token, now)
    if row is None:
        raise link_not_found()
    scope_to_tenant(session, row.org_id)
    stop = session.get(Stop, row.stop_id)
    if stop is None:
        raise link_not_found()
    attempts = [stop]
    while stop.replanned_as_id is not None and len(attempts) < MAX_ATTEMPTS:
        following = session.get(Stop, stop.replanned_as_id)
        if following is None:
            break
        attempts.append(following)
        stop = following
    outcome_at = final_outcome_at(stop)
    if outcome_at is not None and outcome_at + tokens.LIFETIME_AFTER_OUTCOME <= now:
        raise link_not_found()
    return Link(row.org_id, tuple(attempts))


def final_outcome_at(stop: Stop) -> datetime | None:
    """When the order's latest attempt reached an outcome the link outlives by
    ``tokens.LIFETIME_AFTER_OUTCOME``; None while the order is still open. A failed
    attempt counts: if back office plans another, that one becomes the latest."""
    if stop.cancelled_at is not None:
        return stop.cancelled_at
    if stop.status in DELIVERED or stop.status is StopStatus.FAILED:
        return stop.updated_at
    return None


def _local(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).strftime("%H:%M") if moment else None


def _local_day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%a %d %b, %H:%M")


def _day(day: date) -> str:
    return day.strftime("%A %d %B")


def _window(stop: Stop, tz: ZoneInfo) -> dict[str, Any] | None:
    start = stop.promised_start or stop.window_start
    end = stop.promised_end or stop.window_end
    if start is None or end is None:
        return None
    return {
        "start": utc_text(start),
        "end": utc_text(end),
        "text": f"{start.astimezone(tz).strftime('%A %d %B')}, "
        f"{_local(start, tz)} to {_local(end, tz)}",
    }


def _events(session: Session, stop_ids: list[int]) -> list[DoorEventRow]:
    return list(
        session.scalars(
            select(DoorEventRow)
            .where(DoorEventRow.stop_id.in_(stop_ids), DoorEventRow.result != "rejected")
            .order_by(DoorEventRow.recorded_at, DoorEventRow.id)
        )
    )


def _driver(session: Session, stop: Stop) -> User | None:
    if stop.manifest_id is None:
        return None
    return session.scalar(
        select(User)
        .join(Manifest, Manifest.driver_id == User.id)
        .where(Manifest.id == stop.manifest_id)
    )


def _route_started_at(session: Session, stop: Stop) -> datetime | None:
    """When the driver's day began: their first report on this manifest (any stop;
    only the moment is used, never which stop)."""
    if stop.manifest_id is None:
        return None
    started: datetime | None = session.scalar(
        select(func.min(DoorEventRow.recorded_at))
        .join(Stop, Stop.id == DoorEventRow.stop_id)
        .where(Stop.manifest_id == stop.manifest_id)
    )
    return started


def _position(session: Session, driver: User | None, stop: Stop) -> dict[str, Any] | None:
    if driver is None:
        return None
    row = session.get(DriverPosition, driver.id)
    if row is None:
        return None
    return {
        "lat": round(row.lat, 5),
        "lon": round(row.lon, 5),
        "recorded_at": utc_text(row.recorded_at),
        "distance_m": round(haversine_m(row.lat, row.lon, stop.lat, stop.lon)),
    }


def _proof(
    session: Session, stop: Stop, public_keys: dict[str, str], show_photo: bool
) -> dict[str, Any] | None:
    winner = winning_event_id(session, stop)
    if winner is None:
        return None
    proof = session.scalars(select(Proof).where(Proof.event_id == winner)).one_or_none()
    if proof is None:
        return None
    files = {
        f.sha256: f
        for f in session.scalars(
            select(EvidenceFile).where(EvidenceFile.sha256.in_(proof.file_hashes or ["-"]))
        )
    }
    kinds = {
        ref["sha256"]: ref
        for event in session.scalars(select(DoorEventRow).where(DoorEventRow.event_id == winner))
        for ref in event.evidence
    }
    proof_files = [
        {
            **kinds.get(sha, {"sha256": sha}),
            **(
                {"invalid_reason": files[sha].invalid_reason}
                if sha in files and files[sha].invalid_reason
                else {}
            ),
        }
        for sha in proof.file_hashes
    ]
    # The check `doorstep verify` makes: the digest recomputed from the sealed fields
    # and file hashes, and the receipt's signature under the server's published key.
    problems = verify_bundle(
        {
            "proof": {"fields": proof.fields, "files": proof_files, "digest": proof.digest},
            "receipt": proof.receipt,
        },
        {kid: base64.b64decode(key) for kid, key in public_keys.items()},
    )
    receipt = proof.receipt
    photos = [
        ref["sha256"]
        for ref in proof_files
        if ref.get("kind") == "photo"
        and ref["sha256"] in files
        and files[ref["sha256"]].verified_at is not None
        and files[ref["sha256"]].purged_at is None
        and not files[ref["sha256"]].invalid_reason
    ]
    return {
        "digest": proof.digest,
        "file_hashes": list(proof.file_hashes),
        "receipt": {
            "alg": receipt.get("alg"),
            "kid": receipt.get("kid"),
            "digest": receipt.get("digest"),
            "issued_at": receipt.get("issued_at"),
            "stop_id": receipt.get("stop_id"),
            "event_ids": receipt.get("event_ids"),
            "signature": receipt.get("signature"),
        },
        "public_key": public_keys.get(str(receipt.get("kid"))),
        "verified": not problems,
        "problems": problems,
        "photos": photos if show_photo else [],
    }


def _requests(session: Session, stop_ids: list[int]) -> list[RecipientRequest]:
    return list(
        session.scalars(
            select(RecipientRequest)
            .where(RecipientRequest.stop_id.in_(stop_ids))
            .order_by(RecipientRequest.id)
        )
    )


def _disputes(session: Session, stop_ids: list[int]) -> list[Dispute]:
    return list(
        session.scalars(select(Dispute).where(Dispute.stop_id.in_(stop_ids)).order_by(Dispute.id))
    )


def dispute_words(dispute: Dispute) -> str:
    """What a settled or open dispute means for the recipient, and only that."""
    if dispute.status == "open":
        return "Customer service is looking into your report and will contact you."
    if dispute.status == "upheld" and dispute.remedy == "refund":
        return "Your report was upheld: you will be refunded."
    if dispute.status == "upheld" and dispute.remedy == "redeliver":
        return "Your report was upheld: we will deliver your order again."
    if dispute.status == "upheld":
        return "Your report was upheld."
    return "Customer service checked the proof of delivery and closed your report."


def _company(session: Session, org_id: int, settings: OrgSettings) -> str:
    if settings.tracking_page_name:
        return settings.tracking_page_name
    return session.scalar(select(Organization.name).where(Organization.id == org_id)) or ""


def recipient_view(
    session: Session, link: Link, now: datetime, public_keys: dict[str, str]
) -> dict[str, Any]:
    """Everything the recipient's page shows, as plain JSON-ready values."""
    stop = link.stop
    settings = org_settings(session, link.org_id)
    tz = zone(settings.timezone)
    stop_ids = [s.id for s in link.attempts]
    events = _events(session, stop_ids)
    driver = _driver(session, stop)
    requests = _requests(session, stop_ids)
    disputes = _disputes(session, stop_ids)
    delivered = stop.status in DELIVERED
    failed = stop.status == StopStatus.FAILED
    cancelled = stop.cancelled_at is not None
    open_stop = not (delivered or failed or cancelled)
    started = _route_started_at(session, stop) if stop.manifest_id else None
    eta_row = session.get(StopEta, stop.id) if open_stop else None
    eta = None
    if eta_row is not None:
        eta = {
            "at": utc_text(eta_row.eta_at),
            "local": _local(eta_row.eta_at, tz),
            "stops_before": eta_row.stops_before,
            "text": eta_phrase(eta_row.eta_at, eta_row.stops_before, now),
        }
    next_up = eta_row is not None and eta_row.stops_before == 0 and started is not None
    arrived_here = stop.status == StopStatus.ARRIVED

    timeline = _timeline(session, link, events, requests, disputes, started, tz)
    delivery = None
    if delivered:
        outcome = next(
            (e for e in reversed(events) if e.stop_id == stop.id and e.type == "delivered"), None
        )
        delivery = {
            "at": utc_text(outcome.recorded_at) if outcome else None,
            "local": _local_day(outcome.recorded_at, tz) if outcome else None,
            "where_left": (outcome.payload.get("where_left") if outcome else None)
            or "handed_to_recipient",
            "where_left_text": where_left_label(
                outcome.payload.get("where_left") if outcome else None
            ),
            "evidence_pending": stop.status == StopStatus.EVIDENCE_PENDING,
            "proof": _proof(session, stop, public_keys, settings.tracking_show_photo),
        }
    failure = _failure(link, events, requests, tz)
    rating = next((r for r in requests if r.kind == RequestKind.RATING), None)
    instructions = [
        r for r in requests if r.kind == RequestKind.INSTRUCTIONS and r.stop_id == stop.id
    ]
    open_reschedule = next(
        (
            r
            for r in requests
            if r.kind == RequestKind.RESCHEDULE and r.status == RequestStatus.OPEN
        ),
        None,
    )
    open_dispute = next((d for d in disputes if d.status == "open"), None)
    status = _status(link, delivered, failed, cancelled, arrived_here, next_up, started, now, tz)
    return {
        "order_number": stop.order_number,
        "company": _company(session, link.org_id, settings),
        "status": status,
        "headline": _headline(status, stop),
        "service_date": stop.service_date.isoformat(),
        "timezone": settings.timezone,
        "promised_window": _window(stop, tz),
        "eta": eta,
        "driver": {
            "first_name": driver_first_name(driver.full_name),
            # Only while this stop is next: where the driver is says where every
            # other recipient lives.
            "position": _position(session, driver, stop) if next_up and not arrived_here else None,
        }
        if driver is not None and open_stop
        else None,
        "timeline": timeline,
        "delivery": delivery,
        "failure": failure,
        "instructions": instructions[-1].details.get("text") if instructions else None,
        "reschedule_request": {
            "date": open_reschedule.details.get("date"),
            "text": f"You asked for {_day(date.fromisoformat(open_reschedule.details['date']))}; "
            "we will confirm the new day.",
        }
        if open_reschedule
        else None,
        "rating": {
            "stars": rating.details.get("stars"),
            "comment": rating.details.get("comment", ""),
        }
        if rating
        else None,
        "dispute": {
            "status": open_dispute.status if open_dispute else disputes[-1].status,
            "text": dispute_words(open_dispute or disputes[-1]),
        }
        if disputes
        else None,
        "actions": {
            "instructions": open_stop and stop.status in (StopStatus.PENDING, StopStatus.ARRIVED),
            "reschedule": (open_stop or failed) and open_reschedule is None,
            "rate": delivered and rating is None,
            "report_problem": delivered and open_dispute is None,
        },
        "problems": [{"code": p.value, "text": PROBLEM_LABELS[p]} for p in Problem],
    }


def _status(
    link: Link,
    delivered: bool,
    failed: bool,
    cancelled: bool,
    arrived: bool,
    next_up: bool,
    started: datetime | None,
    now: datetime,
    tz: ZoneInfo,
) -> str:
    stop = link.stop
    if cancelled:
        return "cancelled"
    if delivered:
        return "delivered"
    if failed:
        return "failed"
    if arrived:
        return "arriving"
    today = now.astimezone(tz).date()
    if len(link.attempts) > 1 and stop.service_date > today:
        return "rescheduled"
    if started is not None and stop.service_date == today:
        return "arriving" if next_up else "out_for_delivery"
    return "planned"


def _headline(status: str, stop: Stop) -> str:
    if status == "delivered":
        return "Your parcel was delivered."
    if status == "failed":
        return "We could not deliver your parcel."
    if status == "cancelled":
        return "This delivery was cancelled."
    if status == "rescheduled":
        return f"Your delivery is now planned for {_day(stop.service_date)}."
    if status == "arriving":
        if stop.status == StopStatus.ARRIVED:
            return "Your driver is at your door."
        return "Your driver is nearly there."
    if status == "out_for_delivery":
        return "Your parcel is out for delivery."
    return f"Your delivery is planned for {_day(stop.service_date)}."


def _failure(
    link: Link, events: list[DoorEventRow], requests: list[RecipientRequest], tz: ZoneInfo
) -> dict[str, Any] | None:
    """Why the last attempt failed and what happens next (another attempt, a request
    the recipient made, or customer service getting in touch)."""
    stop = link.stop
    failed_attempts = [s for s in link.attempts if s.status == StopStatus.FAILED]
    if not failed_attempts or stop.status in DELIVERED:
        return None
    last_failed = failed_attempts[-1]
    event = next(
        (e for e in reversed(events) if e.stop_id == last_failed.id and e.type == "failed"), None
    )
    reason = event.payload.get("reason") if event else None
    if stop is not last_failed and stop.cancelled_at is None:
        next_step = f"We will try again on {_day(stop.service_date)}."
        next_date: str | None = stop.service_date.isoformat()
    elif any(r.kind == RequestKind.RESCHEDULE and r.status == RequestStatus.OPEN for r in requests):
        next_step = "You asked for another day; we will confirm it."
        next_date = None
    else:
        next_step = (
            "We will contact you to arrange another delivery. You can also ask for a day below."
        )
        next_date = None
    return {
        "at": utc_text(event.recorded_at) if event else None,
        "local": _local_day(event.recorded_at, tz) if event else None,
        "reason": reason,
        "reason_text": failure_label(reason),
        "next_step": next_step,
        "next_attempt_date": next_date,
    }


def _timeline(
    session: Session,
    link: Link,
    events: list[DoorEventRow],
    requests: list[RecipientRequest],
    disputes: list[Dispute],
    started: datetime | None,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    entries: list[tuple[datetime, str, str]] = []
    first = link.attempts[0]
    promises = list(
        session.scalars(
            select(PromiseChange)
            .where(PromiseChange.stop_id.in_([s.id for s in link.attempts]))
            .order_by(PromiseChange.id)
        )
    )
    entries.append(
        (first.created_at, "planned", f"Planned for delivery on {_day(first.service_date)}")
    )
    for change in promises:
        if change.reason != "planned" and change.promised_start and change.promised_end:
            entries.append(
                (
                    change.created_at,
                    "window_changed",
                    f"Delivery window changed to {_local_day(change.promised_start, tz)} "
                    f"to {_local(change.promised_end, tz)}",
                )
            )
    if started is not None:
        entries.append((started, "out_for_delivery", "Out for delivery"))
    for event in events:
        if event.type == "arrived":
            entries.append((event.recorded_at, "arrived", "The driver arrived"))
        elif event.type == "delivered":
            where = where_left_label(event.payload.get("where_left"))
            entries.append((event.recorded_at, "delivered", f"Delivered: {where}"))
        elif event.type == "failed":
            reason = failure_label(event.payload.get("reason"))
            entries.append((event.recorded_at, "failed", f"Not delivered: {reason}"))
    for earlier, later in zip(link.attempts, link.attempts[1:], strict=False):
        if earlier.replanned_at is not None:
            entries.append(
                (
                    earlier.replanned_at,
                    "rescheduled",
                    f"Another delivery planned for {_day(later.service_date)}",
                )
            )
    for request in requests:
        if request.kind == RequestKind.INSTRUCTIONS:
            entries.append((request.created_at, "instructions", "You added delivery instructions"))
        elif request.kind == RequestKind.RESCHEDULE:
            entries.append(
                (request.created_at, "reschedule_requested", "You asked for another day")
            )
        elif request.kind == RequestKind.RATING:
            entries.append((request.created_at, "rated", "You rated the delivery"))
    for dispute in disputes:
        entries.append((dispute.opened_at, "dispute_opened", "A problem was reported"))
        if dispute.resolved_at is not None:
            entries.append((dispute.resolved_at, "dispute_settled", dispute_words(dispute)))
    entries.sort(key=lambda entry: entry[0])
    return [
        {"at": utc_text(moment), "local": _local_day(moment, tz), "kind": kind, "text": text}
        for moment, kind, text in entries
    ]


def _latest(column: Any, *where: Any) -> Any:
    return select(column).where(*where).scalar_subquery()


_ATTEMPTS: BindParameter[int] = bindparam("attempts", expanding=True)
_STOP: BindParameter[int] = bindparam("stop_id")
_ORG: BindParameter[int] = bindparam("org_id")
_MANIFEST: BindParameter[int] = bindparam("manifest_id")
# Built once: a poll only binds its values (building the expression costs more than
# running it on a small table).
_FACTS = select(
    _latest(func.max(DoorEventRow.id), DoorEventRow.stop_id.in_(_ATTEMPTS)),
    _latest(func.count(RecipientRequest.id), RecipientRequest.stop_id.in_(_ATTEMPTS)),
    _latest(func.max(RecipientRequest.handled_at), RecipientRequest.stop_id.in_(_ATTEMPTS)),
    _latest(func.count(Dispute.id), Dispute.stop_id.in_(_ATTEMPTS)),
    _latest(func.max(Dispute.resolved_at), Dispute.stop_id.in_(_ATTEMPTS)),
    _latest(func.max(PromiseChange.id), PromiseChange.stop_id.in_(_ATTEMPTS)),
    _latest(StopEta.computed_at, StopEta.stop_id == _STOP),
    _latest(StopEta.eta_at, StopEta.stop_id == _STOP),
    _latest(StopEta.stops_before, StopEta.stop_id == _STOP),
    _latest(Organization.settings_version, Organization.id == _ORG),
    _latest(Organization.timezone, Organization.id == _ORG),
    select(func.min(DoorEventRow.recorded_at))
    .join(Stop, Stop.id == DoorEventRow.stop_id)
    .where(Stop.manifest_id == _MANIFEST)
    .scalar_subquery(),
    select(DriverPosition.recorded_at)
    .join(Manifest, Manifest.driver_id == DriverPosition.driver_id)
    .where(Manifest.id == _MANIFEST)
    .scalar_subquery(),
    select(User.full_name)
    .join(Manifest, Manifest.driver_id == User.id)
    .where(Manifest.id == _MANIFEST)
    .scalar_subquery(),
)
ETA_AT = 7  # _FACTS' column holding the ETA


def view_etag(session: Session, link: Link, now: datetime) -> str:
    """The page's validator, from the facts it is built from, in one statement.

    A poll that changed nothing (most of them) answers 304 after this one read
    instead of building the whole view: every fact :func:`recipient_view` shows
    moves one of these (a report adds an event, a plan change bumps the stop, a new
    ETA rewrites its row, a request or dispute adds or settles a row, a settings
    change bumps their version). While the stop is open the ETA's words move with
    the clock ("about 25 minutes"), so the minute is part of the tag then.
    """
    stop = link.stop
    facts = session.execute(
        _FACTS,
        {
            "attempts": [s.id for s in link.attempts],
            "stop_id": stop.id,
            "org_id": link.org_id,
            "manifest_id": stop.manifest_id,
        },
    ).one()
    attempts = [
        (s.id, s.version, s.status.value, s.updated_at, s.cancelled_at, s.replanned_as_id)
        for s in link.attempts
    ]
    open_now = stop.status not in DELIVERED and stop.status != StopStatus.FAILED
    timed = open_now and facts[ETA_AT] is not None
    minute = now.replace(second=0, microsecond=0) if timed else None
    return etag_of({"attempts": attempts, "facts": list(facts), "minute": minute})
