"""The outbox as people read it: one delivery's messages for support, the tenant's
counts and failures for an admin, and support's explicit re-send of a failed message.

Re-sending keeps the outbox's promise (docs/notifications.md, "Each message at most
once"): the worker never sends a row twice, and nothing here changes a row. A re-send
is a *new* row, queued only for a ``failed`` one, only by a person, with an audit
entry, and with the dedupe key ``resend:<row id>:...``, so a double-clicked button or a
replayed form still queues one. Unsubscribed addresses are never re-sent to, and a
``suppressed`` message (unsubscribed, quiet hours, stale, no transport) was held back
on purpose, so it is not re-sendable either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.admin.settings import org_settings
from backend.db.models import Notification
from backend.db.session import begin_write
from backend.domain.notifications import Channel, Status, quiet_until
from backend.domain.refusal import Refusal
from backend.notifications.service import insert_ignoring_duplicates, opted_out

# What the overview lists at most, newest first: an operator needs the pattern
# ("connection refused" forty times), not every row.
FAILURES_SHOWN = 50
OVERVIEW_DAYS = 7


def masked_address(channel: str, address: str) -> str:
    """Enough of an address for support to check it with the customer ("d•••@example.com",
    "+•••0101"), not enough to copy it out of a screenshot."""
    if channel == Channel.EMAIL.value:
        local, at, domain = address.partition("@")
        return f"{local[:1]}•••{at}{domain}" if at else "•••"
    return f"+•••{address[-4:]}" if len(address) > 4 else "•••"


@dataclass(frozen=True)
class MessageView:
    id: int
    kind: str
    channel: str
    address: str  # masked
    status: str
    reason: str  # why suppressed or failed, or the last retry's error; "" when sent
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    provider_ref: str
    unsubscribed: bool
    resent_from: int | None
    resendable: bool


def _resent_from(row: Notification) -> int | None:
    head, _, rest = row.dedupe_key.partition(":")
    number = rest.split(":", 1)[0]
    return int(number) if head == "resend" and number.isdigit() else None


def messages_of_stop(session: Session, org_id: int, stop_id: int) -> list[MessageView]:
    """Every message queued for the stop's recipient, oldest first, with whether each
    address has unsubscribed since."""
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.org_id == org_id, Notification.stop_id == stop_id)
            .order_by(Notification.created_at, Notification.id)
        )
    )
    blocked = opted_out(session, org_id, ((r.channel, r.address) for r in rows))
    resent = {_resent_from(r) for r in rows} - {None}
    return [
        MessageView(
            id=row.id,
            kind=row.kind,
            channel=row.channel,
            address=masked_address(row.channel, row.address),
            status=row.status,
            reason=row.last_error,
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
            provider_ref=row.provider_ref,
            unsubscribed=(row.channel, row.address) in blocked,
            resent_from=_resent_from(row),
            resendable=row.status == Status.FAILED.value
            and (row.channel, row.address) not in blocked
            and row.id not in resent,
        )
        for row in rows
    ]


def resend(
    session: Session,
    org_id: int,
    notification_id: int,
    *,
    stop_id: int | None = None,
    actor: str,
    actor_user_id: int | None,
) -> Notification:
    """Queue a new message like the failed one ``notification_id`` (committed, audited).

    Refused (``notification_not_resendable``) unless that row failed, its address has
    not unsubscribed and it was not re-sent already; ``not_found`` for another
    tenant's row, none, or one not of ``stop_id`` when it is given.
    """
    begin_write(session)
    row = session.get(Notification, notification_id)
    if row is None or row.org_id != org_id or stop_id not in (None, row.stop_id):
        raise Refusal("not_found", "no such message")
    key = f"resend:{row.id}:{row.kind}:{row.channel}"[:200]
    if row.status != Status.FAILED.value:
        raise Refusal(
            "notification_not_resendable",
            f"only a failed message can be re-sent; this one is {row.status}",
        )
    if opted_out(session, org_id, [(row.channel, row.address)]):
        raise Refusal("notification_not_resendable", "the recipient unsubscribed from this channel")
    now = clock.now()
    settings = org_settings(session, org_id)
    quiet_end = quiet_until(
        now, settings.timezone, settings.quiet_hours_start, settings.quiet_hours_end
    )
    made = insert_ignoring_duplicates(
        session,
        [
            {
                "org_id": org_id,
                "stop_id": row.stop_id,
                "kind": row.kind,
                "channel": row.channel,
                "address": row.address,
                "dedupe_key": key,
                "status": Status.PENDING.value,
                "attempts": 0,
                "next_attempt_at": quiet_end or now,
                "claimed_at": None,
                "last_error": "",
                "provider_ref": "",
                "created_at": now,
                "sent_at": None,
                "context": row.context,
            }
        ],
    )
    if not made:
        raise Refusal("notification_not_resendable", "this message was re-sent already")
    new = session.scalars(
        select(Notification).where(Notification.org_id == org_id, Notification.dedupe_key == key)
    ).one()
    audit.record(
        session,
        org_id,
        actor,
        actor_user_id,
        "notification.resend",
        "notification",
        row.id,
        before={"status": row.status, "last_error": row.last_error, "kind": row.kind},
        after={"resent_as": new.id, "channel": row.channel, "stop_id": row.stop_id},
    )
    session.commit()
    return new


@dataclass(frozen=True)
class Failure:
    id: int
    stop_id: int
    kind: str
    channel: str
    address: str  # masked
    status: str  # failed, or pending when it waits to be retried
    attempts: int
    last_error: str
    at: datetime


@dataclass(frozen=True)
class Overview:
    today: dict[str, int]
    week: dict[str, int]
    failures: list[Failure]
    retrying: list[Failure]


def _counts(session: Session, org_id: int, since: datetime) -> dict[str, int]:
    counts = {status.value: 0 for status in Status}
    for status, count in session.execute(
        select(Notification.status, func.count())
        .where(Notification.org_id == org_id, Notification.created_at >= since)
        .group_by(Notification.status)
    ):
        counts[status] = count
    return counts


def _failures(session: Session, org_id: int, since: datetime, retrying: bool) -> list[Failure]:
    # Retrying: back in the queue after an attempt that certainly did not leave, the
    # sign of a mail server or SMS provider that is down right now.
    which: ColumnElement[bool] = (
        (Notification.status == Status.PENDING.value) & (Notification.attempts > 0)
        if retrying
        else Notification.status == Status.FAILED.value
    )
    rows = session.scalars(
        select(Notification)
        .where(Notification.org_id == org_id, Notification.created_at >= since, which)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(FAILURES_SHOWN)
    )
    return [
        Failure(
            id=row.id,
            stop_id=row.stop_id,
            kind=row.kind,
            channel=row.channel,
            address=masked_address(row.channel, row.address),
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            at=row.claimed_at or row.created_at,
        )
        for row in rows
    ]


def overview(session: Session, org_id: int) -> Overview:
    """Counts by status for today (the tenant's local day) and the last seven days, the
    failed messages and those waiting to be retried, each with its last error."""
    now = clock.now()
    zone = ZoneInfo(org_settings(session, org_id).timezone)
    local_midnight = datetime.combine(
        now.astimezone(zone).date(), datetime.min.time(), zone
    ).astimezone(UTC)
    week_start = local_midnight - timedelta(days=OVERVIEW_DAYS - 1)
    return Overview(
        today=_counts(session, org_id, local_midnight),
        week=_counts(session, org_id, week_start),
        failures=_failures(session, org_id, week_start, retrying=False),
        retrying=_failures(session, org_id, week_start, retrying=True),
    )
