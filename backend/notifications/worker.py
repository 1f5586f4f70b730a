"""Sending what the outbox holds: ``doorstep notify``, any number of them at once.

One pass (:func:`send_due`):

1. **Give up on the lost.** A row left ``sending`` for longer than the claim timeout
   belongs to a worker that died mid-send. Neither SMTP nor the SMS API gives a way
   to ask "did my message go?" or to resend without a duplicate (neither takes an
   idempotency key), so it is marked ``failed`` with "outcome unknown", never sent
   again: a recipient may miss one message, but never gets one twice.
2. **Claim.** Due ``pending`` rows are selected ``FOR UPDATE SKIP LOCKED`` (workers on
   PostgreSQL take disjoint rows; SQLite has one writer at a time anyway), checked
   (opt-out, quiet hours, a stale "arriving soon", a channel with no transport),
   rendered, then set ``sending`` with ``claimed_at`` and ``attempts + 1``, and that is
   **committed before anything is sent**. A row is sent only by the worker whose
   commit moved it from pending to sending.
3. **Send and record**, one row at a time, outside any transaction: ``sent``; or back
   to ``pending`` with exponential backoff and jitter when the message certainly did
   not leave; or ``failed`` when refused for good, after MAX_ATTEMPTS, or when the
   connection broke after the message was handed over (outcome unknown).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.settings import org_settings
from backend.db.models import Notification
from backend.db.session import begin_write
from backend.domain.notifications import Channel, Kind, Status, quiet_until
from backend.domain.org_settings import OrgSettings
from backend.notifications import rendering
from backend.notifications.service import (
    SUPPRESSED_OPTED_OUT,
    SUPPRESSED_QUIET,
    opted_out,
    unsubscribe_token,
)
from backend.notifications.transports import (
    Email,
    OutcomeUnknown,
    PermanentSendError,
    TransientSendError,
    Transports,
)
from backend.tracking import tokens

MAX_ATTEMPTS = 8
# A send takes seconds (the transports time out well within this); a row claimed longer
# ago than this belongs to a worker that is gone.
CLAIM_TIMEOUT = timedelta(minutes=10)
OUTCOME_UNKNOWN = "outcome unknown: the worker stopped while sending; not resent"
NO_TRANSPORT = "no {channel} transport is configured (DOORSTEP_{upper}_URL)"
STALE = "the estimate it announced has passed"


def backoff(attempts: int) -> timedelta:
    """1 minute doubling per attempt, capped at 1 hour, with jitter (half to full):
    a message is only worth anything while it is fresh."""
    ceiling = min(3600, 60 * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


@dataclass
class Prepared:
    """A claimed row and the message it becomes."""

    id: int
    channel: str
    attempts: int
    email: Email | None = None
    sms_to: str = ""
    sms_body: str = ""


@dataclass(frozen=True)
class Links:
    secret_key: str
    public_url: str


def recover_abandoned(session: Session, timeout: timedelta = CLAIM_TIMEOUT) -> int:
    """Mark rows stuck in ``sending`` (their worker died) failed, outcome unknown."""
    begin_write(session)
    result = session.execute(
        update(Notification)
        .where(
            Notification.status == Status.SENDING.value,
            Notification.claimed_at < clock.now() - timeout,
        )
        .values(status=Status.FAILED.value, last_error=OUTCOME_UNKNOWN)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def _sender_address(settings: OrgSettings, public_url: str) -> str:
    if settings.notification_sender_email:
        return settings.notification_sender_email
    from urllib.parse import urlsplit

    return f"no-reply@{urlsplit(public_url).hostname or 'localhost'}"


def _prepare(session: Session, row: Notification, settings: OrgSettings, links: Links) -> Prepared:
    now = clock.now()
    token = tokens.issue(session, row.org_id, row.stop_id, links.secret_key, now)
    unsubscribe_url = (
        f"{links.public_url}/u/"
        f"{unsubscribe_token(links.secret_key, row.org_id, row.channel, row.address)}"
    )
    # Every variable a template may name exists (empty unless this message has it), so
    # a tenant's template that uses "window" still renders for a stop without one.
    context: dict[str, Any] = {
        **dict.fromkeys(rendering.SAMPLE_CONTEXT, ""),
        **row.context,
        "tracking_url": f"{links.public_url}/t/{token}",
        "unsubscribe_url": unsubscribe_url,
    }
    override = rendering.template_of(session, row.org_id, row.kind)
    rendered = rendering.render(row.kind, context, override)
    prepared = Prepared(row.id, row.channel, row.attempts)
    if row.channel == Channel.EMAIL.value:
        prepared.email = Email(
            to=row.address,
            sender_name=context["sender"],
            sender_address=_sender_address(settings, links.public_url),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers={
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
    else:
        prepared.sms_to, prepared.sms_body = row.address, rendered.sms.strip()
    return prepared


def _why_not_now(
    row: Notification, settings: OrgSettings, transports: Transports, blocked: bool, now: datetime
) -> tuple[Status, str, datetime | None] | None:
    """Why the row is not sent in this pass: (new status, reason, next attempt)."""
    if blocked:
        return Status.SUPPRESSED, SUPPRESSED_OPTED_OUT, None
    if row.kind == Kind.ARRIVING_SOON.value:
        eta_at = row.context.get("eta_at")
        if isinstance(eta_at, str) and datetime.fromisoformat(eta_at) <= now:
            return Status.SUPPRESSED, STALE, None
    if (row.channel == Channel.EMAIL.value and transports.email is None) or (
        row.channel == Channel.SMS.value and transports.sms is None
    ):
        upper = "SMTP" if row.channel == Channel.EMAIL.value else "SMS"
        return Status.SUPPRESSED, NO_TRANSPORT.format(channel=row.channel, upper=upper), None
    quiet_end = quiet_until(
        now, settings.timezone, settings.quiet_hours_start, settings.quiet_hours_end
    )
    if quiet_end is not None:
        if row.kind == Kind.ARRIVING_SOON.value:
            return Status.SUPPRESSED, SUPPRESSED_QUIET, None
        return Status.PENDING, "waiting for the end of quiet hours", quiet_end
    return None


def claim(
    session: Session, transports: Transports, links: Links, limit: int
) -> tuple[list[Prepared], int]:
    """Claim and render up to ``limit`` due rows (committed); returns them and how many
    other due rows were suppressed or deferred instead."""
    begin_write(session)
    now = clock.now()
    due = list(
        session.scalars(
            select(Notification)
            .where(Notification.status == Status.PENDING.value, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    settings_by_org: dict[int, OrgSettings] = {}
    blocked: set[tuple[int, str, str]] = set()
    for org_id in {row.org_id for row in due}:
        settings_by_org[org_id] = org_settings(session, org_id)
        pairs = [(row.channel, row.address) for row in due if row.org_id == org_id]
        blocked |= {(org_id, c, a) for c, a in opted_out(session, org_id, pairs)}
    claimed: list[Prepared] = []
    skipped = 0
    for row in due:
        settings = settings_by_org[row.org_id]
        reason = _why_not_now(
            row, settings, transports, (row.org_id, row.channel, row.address) in blocked, now
        )
        if reason is not None:
            status, error, later = reason
            row.status, row.last_error = status.value, error
            if later is not None:
                row.next_attempt_at = later
            skipped += 1
            continue
        try:
            prepared = _prepare(session, row, settings, links)
        except Exception as exc:
            row.status, row.last_error = Status.FAILED.value, f"cannot render: {exc}"[:500]
            skipped += 1
            continue
        row.status = Status.SENDING.value
        row.claimed_at = now
        row.attempts += 1
        prepared.attempts = row.attempts
        claimed.append(prepared)
    # The claim is durable before any message leaves: see the module docstring.
    session.commit()
    return claimed, skipped


def _send(prepared: Prepared, transports: Transports) -> str:
    if prepared.email is not None:
        assert transports.email is not None, "checked when claimed"
        return transports.email.send(prepared.email)
    assert transports.sms is not None, "checked when claimed"
    return transports.sms.send_sms(prepared.sms_to, prepared.sms_body)


def _record(session: Session, prepared: Prepared, values: dict[str, Any]) -> None:
    begin_write(session)
    session.execute(
        update(Notification)
        .where(
            Notification.id == prepared.id,
            # Or given up on by another worker while this send was slow: the truth wins.
            (Notification.status == Status.SENDING.value)
            | (Notification.last_error == OUTCOME_UNKNOWN),
        )
        .values(**values)
    )
    session.commit()


def send_due(
    session: Session,
    transports: Transports,
    secret_key: str,
    public_url: str,
    limit: int = 50,
    claim_timeout: timedelta = CLAIM_TIMEOUT,
) -> dict[str, int]:
    """One worker pass; returns counts by outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0, "abandoned": 0}
    counts["abandoned"] = recover_abandoned(session, claim_timeout)
    claimed, counts["skipped"] = claim(
        session, transports, Links(secret_key, public_url.rstrip("/")), limit
    )
    for prepared in claimed:
        values: dict[str, Any]
        try:
            reference = _send(prepared, transports)
        except TransientSendError as exc:
            if prepared.attempts >= MAX_ATTEMPTS:
                values = {"status": Status.FAILED.value, "last_error": str(exc)[:500]}
                counts["failed"] += 1
            else:
                values = {
                    "status": Status.PENDING.value,
                    "claimed_at": None,
                    "last_error": str(exc)[:500],
                    "next_attempt_at": clock.now() + backoff(prepared.attempts),
                }
                counts["retry"] += 1
        except (PermanentSendError, OutcomeUnknown) as exc:
            values = {"status": Status.FAILED.value, "last_error": str(exc)[:500]}
            counts["failed"] += 1
        else:
            values = {
                "status": Status.SENT.value,
                "sent_at": clock.now(),
                "provider_ref": reference[:200],
                "last_error": "",
            }
            counts["sent"] += 1
        _record(session, prepared, values)
    return counts
