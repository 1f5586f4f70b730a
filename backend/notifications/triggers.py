"""Where recipient messages (and the matching webhook events) are queued.

Each function runs inside the transaction of the change it reports, and adds rows
only: the sync batch (delivered, failed, the route starting), a dispute's settlement,
a re-plan to another day, and the ETA recompute (arriving soon).

"Out for delivery" means the driver started the route: the first door event of the
driver's service day that reaches the server (the first sync carrying events for that
manifest; an offline driver's first sync may arrive late, and then the stops still
open hear it then). Every open stop of that manifest is told once (its dedupe key),
and integrators get ``route.started`` once per manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.settings import org_settings
from backend.db.models import Dispute, DoorEventRow, Organization, Stop, StopEta, WebhookDelivery
from backend.domain.events import DoorEvent, EventType
from backend.domain.notifications import FAILED_NEXT_STEP, Kind, dispute_outcome_in_words
from backend.domain.org_settings import OrgSettings
from backend.domain.stops import StopStatus
from backend.domain.tracking import failure_in_words
from backend.notifications.service import Outgoing, local_text, queue
from backend.webhooks import service as webhooks

if TYPE_CHECKING:
    from collections.abc import Callable

ROUTE_STARTED = "route.started"
STOP_ARRIVING = "stop.arriving"
WHERE_LEFT_WORDS = {
    "handed_to_recipient": "handed to you",
    "front_door": "left at the front door",
    "back_door": "left at the back door",
    "neighbour": "left with a neighbour",
    "reception": "left at reception",
    "mailroom": "left in the mailroom",
    "parcel_locker": "left in a parcel locker",
}


def sender_name(session: Session, org_id: int, settings: OrgSettings) -> str:
    """Who the messages are from, as the recipient reads it."""
    if settings.notification_sender_name:
        return settings.notification_sender_name
    if settings.tracking_page_name:
        return settings.tracking_page_name
    name = session.scalar(select(Organization.name).where(Organization.id == org_id))
    return name or "Your delivery"


def _window(stop: Stop, timezone: str) -> str:
    start = stop.promised_start or stop.window_start
    end = stop.promised_end or stop.window_end
    if start is None or end is None:
        return ""
    return f"between {local_text(start, timezone)} and {local_text(end, timezone)}"


def base_context(stop: Stop, settings: OrgSettings, sender: str) -> dict[str, Any]:
    """What every message about ``stop`` may say (links are added when it is sent)."""
    return {
        "sender": sender,
        "recipient_name": (stop.recipient_name or "").split(" ")[0],
        "order_number": stop.order_number,
        "window": _window(stop, settings.timezone),
    }


def _enqueue_webhook_once(
    session: Session,
    org_id: int,
    event_type: str,
    payloads: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], Any],
) -> None:
    """Queue ``payloads`` unless an earlier one with the same key was queued today:
    the moments these report (the route started, a stop is arriving) happen once,
    however often the trigger runs."""
    since = clock.now() - timedelta(days=1)
    earlier = {
        key(payload)
        for payload in session.scalars(
            select(WebhookDelivery.payload).where(
                WebhookDelivery.org_id == org_id,
                WebhookDelivery.event_type == event_type,
                WebhookDelivery.created_at >= since,
            )
        )
    }
    fresh = [p for p in payloads if key(p) not in earlier]
    if fresh:
        webhooks.enqueue(session, org_id, event_type, fresh)


def on_door_events(
    session: Session,
    org_id: int,
    accepted: Sequence[tuple[DoorEvent, str, dict[str, Any]]],
    stops: Mapping[int, Stop],
    today: date | None,
) -> None:
    """Delivered, failed and out-for-delivery messages for a stored sync batch."""
    if not accepted:
        return
    settings = org_settings(session, org_id)
    sender = sender_name(session, org_id, settings)
    messages: list[Outgoing] = []
    decided: set[int] = set()
    for event, _, _ in accepted:
        stop = stops[event.stop_id]
        if event.type is EventType.DELIVERED:
            decided.add(stop.id)
            where = str(event.payload.get("where_left") or "")
            context = base_context(stop, settings, sender) | {
                "delivered_at": local_text(event.recorded_at, settings.timezone),
                "where_left": WHERE_LEFT_WORDS.get(where, ""),
            }
            messages.append(Outgoing(Kind.DELIVERED, stop, "", context))
        elif event.type is EventType.FAILED:
            decided.add(stop.id)
            context = base_context(stop, settings, sender) | {
                "reason": failure_in_words(str(event.payload.get("reason") or "other")),
                "next_step": FAILED_NEXT_STEP,
            }
            messages.append(Outgoing(Kind.FAILED, stop, "", context))
    messages.extend(
        _route_started(session, org_id, accepted, stops, today, decided, settings, sender)
    )
    queue(session, org_id, messages)


def _route_started(
    session: Session,
    org_id: int,
    accepted: Sequence[tuple[DoorEvent, str, dict[str, Any]]],
    stops: Mapping[int, Stop],
    today: date | None,
    decided: set[int],
    settings: OrgSettings,
    sender: str,
) -> list[Outgoing]:
    manifest_ids: set[int] = set()
    for event, _, _ in accepted:
        stop = stops[event.stop_id]
        if stop.manifest_id is not None and (today is None or stop.service_date == today):
            manifest_ids.add(stop.manifest_id)
    if not manifest_ids:
        return []
    batch_ids = [event.id for event, _, _ in accepted]
    started_before = set(
        session.scalars(
            select(Stop.manifest_id)
            .join(DoorEventRow, DoorEventRow.stop_id == Stop.id)
            .where(
                Stop.org_id == org_id,
                Stop.manifest_id.in_(sorted(manifest_ids)),
                DoorEventRow.event_id.not_in(batch_ids),
            )
            .distinct()
        )
    )
    starting = sorted(m for m in manifest_ids if m not in started_before)
    if not starting:
        return []
    open_stops = session.scalars(
        select(Stop)
        .where(
            Stop.org_id == org_id,
            Stop.manifest_id.in_(starting),
            Stop.status == StopStatus.PENDING,
            Stop.cancelled_at.is_(None),
            Stop.replanned_at.is_(None),
            Stop.held_at.is_(None),
        )
        .order_by(Stop.manifest_id, Stop.sequence)
    ).all()
    # Stops this very batch decides are not derived yet, but they are not ahead.
    open_stops = [stop for stop in open_stops if stop.id not in decided]
    _enqueue_webhook_once(
        session,
        org_id,
        ROUTE_STARTED,
        [
            {
                "manifest_id": manifest_id,
                "started_at": clock.now().isoformat(),
                "stop_ids": [s.id for s in open_stops if s.manifest_id == manifest_id],
            }
            for manifest_id in starting
        ],
        key=lambda payload: payload.get("manifest_id"),
    )
    return [
        Outgoing(Kind.OUT_FOR_DELIVERY, stop, "", base_context(stop, settings, sender))
        for stop in open_stops
    ]


def on_dispute_settled(session: Session, org_id: int, dispute: Dispute) -> None:
    """Tell the recipient how their report was settled, in words of what happens."""
    stop = session.get(Stop, dispute.stop_id)
    if stop is None:
        return
    redelivery_date = None
    if dispute.redelivery_stop_id is not None:
        redelivery = session.get(Stop, dispute.redelivery_stop_id)
        redelivery_date = redelivery.service_date if redelivery is not None else None
    settings = org_settings(session, org_id)
    outcome = dispute_outcome_in_words(
        dispute.status,
        dispute.remedy or None,
        dispute.refund_amount,
        dispute.refund_currency,
        redelivery_date,
    )
    sender = sender_name(session, org_id, settings)
    context = base_context(stop, settings, sender) | {"outcome": outcome}
    queue(session, org_id, [Outgoing(Kind.DISPUTE_SETTLED, stop, f"d{dispute.id}", context)])


def on_rescheduled(
    session: Session, originals: Iterable[Stop], attempts: Mapping[int, int]
) -> None:
    """A failed stop re-planned to another day (``-R``): its recipient hears the date.

    A delivered stop re-planned by a dispute's redelivery is told by the dispute's own
    message (which names the date), so it is not told twice here.
    """
    by_org: dict[int, list[Stop]] = {}
    for stop in originals:
        if stop.id in attempts and stop.status != StopStatus.DELIVERED:
            by_org.setdefault(stop.org_id, []).append(stop)
    for org_id, stops in by_org.items():
        settings = org_settings(session, org_id)
        sender = sender_name(session, org_id, settings)
        messages = []
        for stop in stops:
            attempt = session.get(Stop, attempts[stop.id])
            if attempt is None:
                continue
            context = base_context(stop, settings, sender) | {
                "new_date": attempt.service_date.strftime("%A %d %B %Y"),
                "order_number": attempt.order_number,
            }
            messages.append(Outgoing(Kind.RESCHEDULED, stop, f"as{attempt.id}", context))
        queue(session, org_id, messages)


def _eta_words(eta_at: datetime, now: datetime, timezone: str) -> str:
    minutes = max(1, round((eta_at - now).total_seconds() / 60))
    return f"around {local_text(eta_at, timezone)} (in about {minutes} minutes)"


def queue_arriving_soon(session: Session, org_id: int, stop_ids: Iterable[int]) -> int:
    """After an ETA recompute: queue "arriving soon" (and webhook ``stop.arriving``)
    for the stops whose ETA is within the tenant's ``arriving_soon_minutes`` or that
    are next. Once per stop, however often it is called; no commit. Returns how many
    stops qualified."""
    ids = sorted(set(stop_ids))
    if not ids:
        return 0
    now = clock.now()
    settings = org_settings(session, org_id)
    horizon = now + timedelta(minutes=settings.arriving_soon_minutes)
    sender = sender_name(session, org_id, settings)
    rows = session.execute(
        select(Stop, StopEta)
        .join(StopEta, StopEta.stop_id == Stop.id)
        .where(
            Stop.org_id == org_id,
            Stop.id.in_(ids),
            Stop.status == StopStatus.PENDING,
            Stop.cancelled_at.is_(None),
            Stop.replanned_at.is_(None),
            Stop.held_at.is_(None),
        )
        .order_by(Stop.id)
    ).all()
    due = [(stop, eta) for stop, eta in rows if eta.eta_at <= horizon or eta.stops_before == 0]
    if not due:
        return 0
    messages = [
        Outgoing(
            Kind.ARRIVING_SOON,
            stop,
            "",
            base_context(stop, settings, sender)
            | {
                "eta": _eta_words(eta.eta_at, now, settings.timezone),
                "eta_at": eta.eta_at.isoformat(),
            },
        )
        for stop, eta in due
    ]
    queue(session, org_id, messages)
    _enqueue_webhook_once(
        session,
        org_id,
        STOP_ARRIVING,
        [
            {
                "stop_id": stop.id,
                "order_number": stop.order_number,
                "eta_at": eta.eta_at.isoformat(),
                "stops_before": eta.stops_before,
            }
            for stop, eta in due
        ],
        key=lambda payload: payload.get("stop_id"),
    )
    return len(due)
