"""What a recipient sends from their tracking page, and back office's queue of it.

Contract: each action opens the link itself (``backend.tracking.view.open_link``, so
a dead link is the same 404 as on the page), checks what was sent with the rules in
``backend.domain.tracking``, writes and commits in one transaction, or refuses with a
stable code and writes nothing. Every action leaves a :class:`RecipientRequest`:

- instructions reach the driver's app as a plan change at its next sync;
- a reschedule is a request for a person to handle, never a silent change;
- a rating is kept once, after delivery;
- a problem report opens a dispute for customer service with the proof's files
  already cited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin.settings import org_settings
from backend.auth.tokens import Principal
from backend.db.models import Dispute, Proof, RecipientRequest, Stop
from backend.db.session import begin_write
from backend.disputes.service import open_recipient_dispute
from backend.domain.clock import utc_text, zone
from backend.domain.refusal import Refusal, not_found
from backend.domain.stops import StopStatus
from backend.domain.tracking import (
    RequestKind,
    RequestStatus,
    check_reschedule_date,
    clean_comment,
    clean_instructions,
    clean_problem,
    clean_problem_text,
    clean_stars,
    weekday_numbers,
)
from backend.planning.service import plan_next_attempts, set_recipient_instructions
from backend.sync.changes import lock_plan, record_status_changes
from backend.sync.derive import winning_event_id
from backend.tracking.view import DELIVERED, Link, open_link

QUEUE_LIMIT = 200


def _closed(message: str) -> Refusal:
    return Refusal("tracking_action_closed", message)


def _record(
    session: Session,
    link: Link,
    kind: RequestKind,
    details: dict[str, Any],
    now: datetime,
    *,
    handled: bool,
    dispute_id: int | None = None,
) -> RecipientRequest:
    request = RecipientRequest(
        org_id=link.org_id,
        stop_id=link.stop.id,
        kind=kind.value,
        details=details,
        status=RequestStatus.HANDLED.value if handled else RequestStatus.OPEN.value,
        created_at=now,
        handled_at=now if handled else None,
        dispute_id=dispute_id,
    )
    session.add(request)
    session.flush()
    return request


def add_instructions(session: Session, token: str, now: datetime, text: Any) -> RecipientRequest:
    begin_write(session)
    link = open_link(session, token, now)
    clean = clean_instructions(text)
    stop = link.stop
    if stop.status not in (StopStatus.PENDING, StopStatus.ARRIVED) or stop.cancelled_at:
        raise _closed("this delivery is over; instructions can no longer reach the driver")
    set_recipient_instructions(session, link.org_id, stop.id, clean)
    # Shown in back office's queue for the record; already in effect, so handled.
    request = _record(session, link, RequestKind.INSTRUCTIONS, {"text": clean}, now, handled=True)
    session.commit()
    return request


def request_reschedule(
    session: Session, token: str, now: datetime, day: Any, note: Any
) -> RecipientRequest:
    begin_write(session)
    link = open_link(session, token, now)
    stop = link.stop
    if stop.status in DELIVERED or stop.cancelled_at is not None:
        raise _closed("this delivery is over; there is nothing to reschedule")
    if _open_request(session, link, RequestKind.RESCHEDULE) is not None:
        raise Refusal(
            "request_already_open",
            "you already asked for another day; we will confirm it soon",
        )
    settings = org_settings(session, link.org_id)
    today = now.astimezone(zone(settings.timezone)).date()
    wanted = check_reschedule_date(day, today, weekday_numbers(settings.delivery_weekdays))
    details = {"date": wanted.isoformat(), "note": clean_comment(note)}
    request = _record(session, link, RequestKind.RESCHEDULE, details, now, handled=False)
    session.commit()
    return request


def rate_delivery(
    session: Session, token: str, now: datetime, stars: Any, comment: Any
) -> RecipientRequest:
    begin_write(session)
    link = open_link(session, token, now)
    if link.stop.status not in DELIVERED:
        raise _closed("you can rate the delivery once it has been delivered")
    if _any_request(session, link, RequestKind.RATING):
        raise Refusal("already_rated", "you already rated this delivery; thank you")
    details = {"stars": clean_stars(stars), "comment": clean_comment(comment)}
    request = _record(session, link, RequestKind.RATING, details, now, handled=True)
    session.commit()
    return request


@dataclass(frozen=True)
class ProblemReport:
    request: RecipientRequest
    dispute: Dispute


def report_problem(
    session: Session, token: str, now: datetime, problem: Any, text: Any
) -> ProblemReport:
    begin_write(session)
    link = open_link(session, token, now)
    reason = clean_problem(problem)
    clean = clean_problem_text(text)
    stop = link.stop
    if stop.status not in DELIVERED:
        raise _closed("a problem can be reported once the parcel is marked delivered")
    winner = winning_event_id(session, stop)
    proof = (
        session.scalars(select(Proof).where(Proof.event_id == winner)).one_or_none()
        if winner
        else None
    )
    dispute = open_recipient_dispute(
        session, link.org_id, stop.id, reason.value, list(proof.file_hashes) if proof else []
    )
    details = {"problem": reason.value, "text": clean}
    request = _record(
        session, link, RequestKind.PROBLEM, details, now, handled=False, dispute_id=dispute.id
    )
    session.commit()
    return ProblemReport(request, dispute)


def _any_request(session: Session, link: Link, kind: RequestKind) -> bool:
    return (
        session.scalars(
            select(RecipientRequest.id).where(
                RecipientRequest.stop_id.in_([s.id for s in link.attempts]),
                RecipientRequest.kind == kind.value,
            )
        ).first()
        is not None
    )


def _open_request(session: Session, link: Link, kind: RequestKind) -> RecipientRequest | None:
    return session.scalars(
        select(RecipientRequest).where(
            RecipientRequest.stop_id.in_([s.id for s in link.attempts]),
            RecipientRequest.kind == kind.value,
            RecipientRequest.status == RequestStatus.OPEN.value,
        )
    ).first()


# Back office.


def request_dicts(
    session: Session, status: str | None, limit: int = QUEUE_LIMIT
) -> list[dict[str, Any]]:
    """The queue, newest first, each request with the delivery it is about."""
    statement = (
        select(RecipientRequest, Stop)
        .join(Stop, Stop.id == RecipientRequest.stop_id)
        .order_by(RecipientRequest.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(RecipientRequest.status == status)
    return [
        {
            "id": request.id,
            "kind": request.kind,
            "status": request.status,
            "details": request.details,
            "created_at": utc_text(request.created_at),
            "handled_at": utc_text(request.handled_at),
            "handled_by": request.handled_by,
            "dispute_id": request.dispute_id,
            "stop_id": stop.id,
            "order_number": stop.order_number,
            "service_date": stop.service_date.isoformat(),
            "stop_status": stop.status.value,
            "replanned_as_id": stop.replanned_as_id,
        }
        for request, stop in session.execute(statement)
    ]


def requests_of_stop(session: Session, stop_id: int) -> list[RecipientRequest]:
    return list(
        session.scalars(
            select(RecipientRequest)
            .where(RecipientRequest.stop_id == stop_id)
            .order_by(RecipientRequest.id)
        )
    )


def handle_request(
    session: Session, principal: Principal, request_id: int, now: datetime, *, replan: bool
) -> RecipientRequest:
    """Mark a request handled; for a reschedule with ``replan``, plan another attempt
    of the order on the day the recipient asked (the re-plan flow: the stop is
    withdrawn from its driver and a new ``-R`` attempt waits for dispatch)."""
    begin_write(session)
    request = session.get(RecipientRequest, request_id)
    if request is None:
        raise not_found("recipient request")
    if request.status != RequestStatus.OPEN.value:
        raise Refusal("request_not_open", "this request was already handled")
    if replan:
        if request.kind != RequestKind.RESCHEDULE.value:
            raise Refusal("validation_error", "only a reschedule request plans a new attempt")
        _replan_to(
            session,
            principal.org_id,
            request.stop_id,
            date.fromisoformat(request.details["date"]),
            now,
        )
    request.status = RequestStatus.HANDLED.value
    request.handled_by = principal.user_id
    request.handled_at = now
    session.commit()
    return request


def _replan_to(session: Session, org_id: int, stop_id: int, day: date, now: datetime) -> None:
    lock_plan(session, org_id)
    stop = session.get(Stop, stop_id)
    if stop is None:
        raise not_found("stop")
    if stop.status in DELIVERED or stop.cancelled_at is not None:
        raise Refusal("stop_not_editable", f"the stop is {stop.status.value}; nothing to re-plan")
    if stop.replanned_at is not None:
        raise Refusal(
            "stop_not_editable", f"the stop was already re-planned as {stop.replanned_as_id}"
        )
    attempts = plan_next_attempts(session, [stop], {stop.id: day})
    stop.replanned_at = now
    stop.replanned_as_id = attempts[stop.id]
    stop.version += 1
    record_status_changes(session, [stop])  # a remove for its driver
