"""Search, disputes and legal hold."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from backend import clock
from backend.auth.tokens import Principal
from backend.db.models import Dispute, DisputeNote, Manifest, Parcel, Stop, User
from backend.db.session import begin_write
from backend.domain.clock import utc_text
from backend.domain.refusal import Refusal, not_found
from backend.manifests.service import org_today
from backend.notifications import triggers as notifications
from backend.planning.service import plan_next_attempts
from backend.sync.changes import lock_plan
from backend.webhooks import service as webhooks

OPEN = "open"
MIN_REFUND = Decimal("0.01")
MAX_REFUND = Decimal("1000000")
SEARCH_LIMIT = 50


class DisputeReason(enum.StrEnum):
    NOT_RECEIVED = "not_received"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    WRONG_ADDRESS = "wrong_address"
    OTHER = "other"


class Outcome(enum.StrEnum):
    UPHELD = "upheld"
    REJECTED = "rejected"


class Remedy(enum.StrEnum):
    REFUND = "refund"
    REDELIVER = "redeliver"


def _literal(text: str) -> str:
    """A LIKE pattern that matches ``text`` literally (% and _ are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, query: str) -> list[dict[str, Any]]:
    """Deliveries matching an order number, parcel barcode, recipient or address."""
    needle = query.strip()
    contains = f"%{_literal(needle.lower())}%"
    barcode_match = exists().where(Parcel.stop_id == Stop.id, Parcel.barcode == needle)
    rows = session.execute(
        select(Stop, User.username)
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(
            or_(
                Stop.order_number == needle,
                barcode_match,
                Stop.recipient_name.ilike(contains, escape="\\"),
                Stop.address.ilike(contains, escape="\\"),
            )
        )
        .order_by(Stop.service_date.desc(), Stop.id)
        .limit(SEARCH_LIMIT)
    ).all()
    held = on_legal_hold(session, [stop.id for stop, _ in rows])
    return [
        {
            "stop_id": stop.id,
            "order_number": stop.order_number,
            "service_date": stop.service_date.isoformat(),
            "address": stop.address,
            "recipient": stop.recipient_name,
            "status": stop.status.value,
            "driver": driver,
            "legal_hold": stop.id in held,
        }
        for stop, driver in rows
    ]


def on_legal_hold(session: Session, stop_ids: list[int]) -> set[int]:
    """Stops whose evidence must be kept: they have an open dispute."""
    if not stop_ids:
        return set()
    return set(
        session.scalars(
            select(Dispute.stop_id).where(Dispute.stop_id.in_(stop_ids), Dispute.status == OPEN)
        )
    )


def open_dispute(
    session: Session, principal: Principal, stop_id: int, reason: str, note: str, reference: str
) -> Dispute:
    begin_write(session)
    if session.get(Stop, stop_id) is None:
        raise not_found("stop")
    if on_legal_hold(session, [stop_id]):
        raise Refusal(
            "dispute_already_open",
            "this delivery already has an open dispute; add a note to it instead",
        )
    dispute = Dispute(
        org_id=principal.org_id,
        stop_id=stop_id,
        reason=reason,
        opened_by=principal.user_id,
        customer_reference=reference,
    )
    session.add(dispute)
    session.flush()
    if note.strip():
        session.add(
            DisputeNote(
                org_id=principal.org_id,
                dispute_id=dispute.id,
                user_id=principal.user_id,
                text=note.strip(),
            )
        )
    session.commit()
    return dispute


def get_dispute(session: Session, dispute_id: int) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise not_found("dispute")
    return dispute


def add_note(session: Session, principal: Principal, dispute_id: int, text: str) -> DisputeNote:
    begin_write(session)
    get_dispute(session, dispute_id)
    note = DisputeNote(
        org_id=principal.org_id, dispute_id=dispute_id, user_id=principal.user_id, text=text.strip()
    )
    session.add(note)
    session.commit()
    return note


@dataclass(frozen=True)
class Settlement:
    """How support settles a dispute; ``resolve`` checks it is complete."""

    outcome: str
    reason: str
    remedy: str | None = None
    evidence_cited: Sequence[str] = ()
    # A refund: how much, in which currency (ISO 4217).
    refund_amount: Decimal | None = None
    refund_currency: str = ""
    # A redelivery: the day the new attempt is planned for (default: tomorrow).
    redeliver_on: date | None = None


def _settlement_errors(settlement: Settlement, today: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    upheld = settlement.outcome == Outcome.UPHELD
    if upheld and settlement.remedy is None:
        errors["remedy"] = ["say whether the customer gets a refund or a redelivery"]
    if not upheld and not settlement.evidence_cited:
        errors["evidence_cited"] = ["cite the evidence the rejection rests on"]
    if not upheld and settlement.remedy is not None:
        errors["remedy"] = ["a rejected dispute has no remedy"]
    refund = settlement.remedy == Remedy.REFUND
    amount = settlement.refund_amount
    if refund and amount is None:
        errors["refund_amount"] = ["say how much is refunded"]
    elif amount is not None and not MIN_REFUND <= amount <= MAX_REFUND:
        errors["refund_amount"] = [f"a refund is from {MIN_REFUND} to {MAX_REFUND:,}"]
    if refund and not settlement.refund_currency:
        errors["refund_currency"] = ["say in which currency (ISO 4217, e.g. USD)"]
    if not refund and (amount is not None or settlement.refund_currency):
        errors["refund_amount"] = ["only a refund has an amount"]
    if settlement.redeliver_on is not None:
        if settlement.remedy != Remedy.REDELIVER:
            errors["redeliver_on"] = ["only a redelivery has a date"]
        elif settlement.redeliver_on < today:
            errors["redeliver_on"] = [f"a redelivery cannot be planned before {today}"]
    return errors


def resolve(
    session: Session, principal: Principal, dispute_id: int, settlement: Settlement
) -> Dispute:
    """Uphold (with a refund or a redelivery) or reject (citing the evidence).

    A redelivery is a new, unassigned stop for dispatch: another attempt of the
    order, linked to the dispute. A refund records its amount and currency. Either way
    integrators hear of it (webhook ``dispute``, ``event: "dispute.settled"``).
    """
    begin_write(session)
    dispute = get_dispute(session, dispute_id)
    if dispute.status != OPEN:
        raise Refusal("dispute_closed", f"the dispute is already {dispute.status}")
    today = org_today(session, principal.org_id)
    errors = _settlement_errors(settlement, today)
    if errors:
        raise Refusal("validation_error", "the resolution is incomplete", errors=errors)
    lock_plan(session, principal.org_id)
    dispute.status = settlement.outcome
    dispute.remedy = settlement.remedy or ""
    dispute.resolution = settlement.reason
    dispute.evidence_cited = list(settlement.evidence_cited)
    dispute.resolved_by = principal.user_id
    dispute.resolved_at = clock.now()
    if settlement.remedy == Remedy.REFUND:
        dispute.refund_amount = settlement.refund_amount
        dispute.refund_currency = settlement.refund_currency
    if settlement.remedy == Remedy.REDELIVER:
        original = session.get(Stop, dispute.stop_id)
        assert original is not None, "a dispute's stop is never deleted (RESTRICT)"
        day = settlement.redeliver_on or today + timedelta(days=1)
        attempts = plan_next_attempts(session, [original], {original.id: day})
        dispute.redelivery_stop_id = attempts[original.id]
    session.flush()
    webhooks.enqueue(session, principal.org_id, "dispute", [_settled_event(session, dispute)])
    notifications.on_dispute_settled(session, principal.org_id, dispute)
    session.commit()
    return dispute


def _settled_event(session: Session, dispute: Dispute) -> dict[str, Any]:
    body = dispute_dict(session, dispute)
    return {
        "event": "dispute.settled",
        "dispute_id": dispute.id,
        "stop_id": dispute.stop_id,
        "status": dispute.status,
        "remedy": dispute.remedy or None,
        "resolution": dispute.resolution,
        "refund": body["refund"],
        "redelivery": body["redelivery"],
    }


def list_disputes(session: Session, status: str | None, limit: int = 500) -> list[dict[str, Any]]:
    """Disputes, newest first, each with the delivery it is about."""
    statement = (
        select(Dispute, Stop.order_number, Stop.address, Stop.service_date)
        .join(Stop, Stop.id == Dispute.stop_id)
        .order_by(Dispute.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(Dispute.status == status)
    rows = session.execute(statement).all()
    bodies = dispute_dicts(session, [dispute for dispute, *_ in rows])
    return [
        {
            "dispute": body,
            "order_number": order_number,
            "address": address,
            "service_date": service_date.isoformat(),
        }
        for body, (_, order_number, address, service_date) in zip(bodies, rows, strict=True)
    ]


def disputes_of_stop(session: Session, stop_id: int) -> list[Dispute]:
    return list(
        session.scalars(select(Dispute).where(Dispute.stop_id == stop_id).order_by(Dispute.id))
    )


def _notes_by_dispute(session: Session, dispute_ids: list[int]) -> dict[int, list[DisputeNote]]:
    notes: dict[int, list[DisputeNote]] = {dispute_id: [] for dispute_id in dispute_ids}
    if dispute_ids:
        for note in session.scalars(
            select(DisputeNote)
            .where(DisputeNote.dispute_id.in_(dispute_ids))
            .order_by(DisputeNote.id)
        ):
            notes[note.dispute_id].append(note)
    return notes


def dispute_dict(session: Session, dispute: Dispute) -> dict[str, Any]:
    [body] = dispute_dicts(session, [dispute])
    return body


def dispute_dicts(session: Session, disputes: list[Dispute]) -> list[dict[str, Any]]:
    """Disputes with their notes, the notes of all of them read in one query."""
    notes = _notes_by_dispute(session, [d.id for d in disputes])
    redeliveries = _redeliveries(session, [d.redelivery_stop_id for d in disputes])

    return [
        {
            "id": dispute.id,
            "stop_id": dispute.stop_id,
            "reason": dispute.reason,
            "status": dispute.status,
            "remedy": dispute.remedy or None,
            "refund": _refund(dispute),
            "redelivery": redeliveries.get(dispute.redelivery_stop_id or 0),
            "resolution": dispute.resolution,
            "evidence_cited": dispute.evidence_cited,
            "customer_reference": dispute.customer_reference,
            "opened_by": dispute.opened_by,
            "opened_via": dispute.opened_via,
            "opened_at": utc_text(dispute.opened_at),
            "resolved_by": dispute.resolved_by,
            "resolved_at": utc_text(dispute.resolved_at),
            "legal_hold": dispute.status == OPEN,
            "notes": [
                {"user_id": n.user_id, "text": n.text, "at": utc_text(n.created_at)}
                for n in notes[dispute.id]
            ],
        }
        for dispute in disputes
    ]


def _refund(dispute: Dispute) -> dict[str, str] | None:
    if dispute.refund_amount is None:
        return None
    return {"amount": f"{dispute.refund_amount:.2f}", "currency": dispute.refund_currency}


def _redeliveries(session: Session, stop_ids: list[int | None]) -> dict[int, dict[str, Any]]:
    """The redelivery stops the disputes planned, by id, in one query."""
    wanted = [stop_id for stop_id in stop_ids if stop_id is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(Stop.id, Stop.order_number, Stop.service_date, Stop.status).where(
            Stop.id.in_(wanted)
        )
    )
    return {
        stop_id: {
            "stop_id": stop_id,
            "order_number": order_number,
            "service_date": service_date.isoformat(),
            "status": status.value,
        }
        for stop_id, order_number, service_date, status in rows
    }


def open_recipient_dispute(
    session: Session, org_id: int, stop_id: int, reason: str, evidence_cited: Sequence[str]
) -> Dispute:
    """A dispute the recipient opened from their tracking page (no staff opener), with
    the proof's files already cited. The caller holds a write transaction and commits;
    what the recipient wrote is kept with their request (``RecipientRequest``).
    """
    if on_legal_hold(session, [stop_id]):
        raise Refusal(
            "dispute_already_open",
            "a problem with this delivery is already being looked into",
        )
    dispute = Dispute(
        org_id=org_id,
        stop_id=stop_id,
        reason=reason,
        opened_by=None,
        opened_via="recipient",
        evidence_cited=list(evidence_cited),
        customer_reference="tracking page",
    )
    session.add(dispute)
    session.flush()
    return dispute
