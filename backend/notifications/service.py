"""Queueing recipient messages in the outbox, and the recipients' opt-outs.

:func:`queue` writes rows in the caller's transaction (like the webhook outbox), so a
message exists exactly when the change that caused it committed. Each row has a
``dedupe_key`` unique per organization (kind, what it is about, channel, address),
inserted with ON CONFLICT DO NOTHING: the same sync batch sent twice, two workers
racing, or a trigger firing again all leave one row, hence one message.

At queueing time a message to an address that unsubscribed is stored ``suppressed``
(so support can see why nothing went), and one due in the tenant's quiet hours waits
until they end (an ``arriving_soon`` would be stale by then, so it is suppressed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.settings import org_settings
from backend.db.models import Notification, NotificationOptOut, Stop
from backend.domain.notifications import Channel, Kind, Status, quiet_until
from backend.domain.org_settings import EMAIL

SUPPRESSED_OPTED_OUT = "the recipient unsubscribed"
SUPPRESSED_QUIET = "due in quiet hours; stale by their end"
PHONE_DIGITS = re.compile(r"[0-9]{7,15}")


@dataclass(frozen=True)
class Outgoing:
    """One message to queue for a stop's recipient, on every channel it has."""

    kind: Kind
    stop: Stop
    # What makes it distinct besides kind and stop (a dispute's id); "" for most.
    about: str
    context: dict[str, Any]


def email_address(raw: str) -> str | None:
    address = raw.strip()
    return address.lower() if address and EMAIL.fullmatch(address) else None


def sms_number(raw: str) -> str | None:
    """The stop's phone as +E.164, or None: without a country code the number is
    ambiguous, and a message to the wrong person is worse than none."""
    text = raw.strip()
    digits = re.sub(r"[ ()./-]", "", text.removeprefix("+"))
    if not text.startswith("+") or not PHONE_DIGITS.fullmatch(digits) or digits[0] == "0":
        return None
    return "+" + digits


def addresses_of(stop: Stop) -> list[tuple[Channel, str]]:
    found: list[tuple[Channel, str]] = []
    email = email_address(stop.recipient_email or "")
    if email:
        found.append((Channel.EMAIL, email))
    phone = sms_number(stop.recipient_phone or "")
    if phone:
        found.append((Channel.SMS, phone))
    return found


def dedupe_key(kind: str, stop_id: int, about: str, channel: str, address: str) -> str:
    return f"{kind}:{stop_id}:{about}:{channel}:{address}"[:200]


def opted_out(
    session: Session, org_id: int, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = session.execute(
        select(NotificationOptOut.channel, NotificationOptOut.address).where(
            NotificationOptOut.org_id == org_id,
            NotificationOptOut.address.in_(sorted({address for _, address in wanted})),
        )
    )
    return {(channel, address) for channel, address in rows} & wanted


def insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = session.execute(
        dialect_insert(Notification)
        .on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"])
        .returning(Notification.id),
        rows,
    )
    return len(result.all())


def queue(session: Session, org_id: int, messages: Iterable[Outgoing]) -> int:
    """Queue ``messages`` (no commit); returns how many rows are new."""
    now = clock.now()
    planned = [
        (message, channel, address)
        for message in messages
        for channel, address in addresses_of(message.stop)
    ]
    if not planned:
        return 0
    settings = org_settings(session, org_id)
    quiet_end = quiet_until(
        now, settings.timezone, settings.quiet_hours_start, settings.quiet_hours_end
    )
    blocked = opted_out(session, org_id, ((c.value, a) for _, c, a in planned))
    rows = []
    for message, channel, address in planned:
        status, error, due = Status.PENDING, "", now
        if (channel.value, address) in blocked:
            status, error = Status.SUPPRESSED, SUPPRESSED_OPTED_OUT
        elif quiet_end is not None and message.kind is Kind.ARRIVING_SOON:
            status, error = Status.SUPPRESSED, SUPPRESSED_QUIET
        elif quiet_end is not None:
            due = quiet_end
        rows.append(
            {
                "org_id": org_id,
                "stop_id": message.stop.id,
                "kind": message.kind.value,
                "channel": channel.value,
                "address": address,
                "dedupe_key": dedupe_key(
                    message.kind.value, message.stop.id, message.about, channel.value, address
                ),
                "status": status.value,
                "attempts": 0,
                "next_attempt_at": due,
                "claimed_at": None,
                "last_error": error,
                "provider_ref": "",
                "created_at": now,
                "sent_at": None,
                "context": message.context,
            }
        )
    return insert_ignoring_duplicates(session, rows)


def opt_out(session: Session, org_id: int, channel: str, address: str) -> None:
    """Record that ``address`` wants no more messages on ``channel`` (no commit), and
    suppress what is still waiting for it."""
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        dialect_insert(NotificationOptOut).on_conflict_do_nothing(
            index_elements=["org_id", "channel", "address"]
        ),
        [{"org_id": org_id, "channel": channel, "address": address, "created_at": clock.now()}],
    )
    session.execute(
        update(Notification)
        .where(
            Notification.org_id == org_id,
            Notification.channel == channel,
            Notification.address == address,
            Notification.status == Status.PENDING.value,
        )
        .values(status=Status.SUPPRESSED.value, last_error=SUPPRESSED_OPTED_OUT)
    )


# --- unsubscribe links ------------------------------------------------------------
# /u/<token>: the token carries (org, channel, address) and an HMAC of them under the
# server's secret key, so it needs no table, cannot be guessed or altered, and names
# only the one address it was sent to.

UNSUBSCRIBE_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unsubscribe_mac(secret_key: str, payload: str) -> bytes:
    return hmac.new(
        secret_key.encode(), f"unsubscribe:{payload}".encode(), hashlib.sha256
    ).digest()[:UNSUBSCRIBE_MAC_BYTES]


def unsubscribe_token(secret_key: str, org_id: int, channel: str, address: str) -> str:
    payload = _b64(f"{org_id}\n{channel}\n{address}".encode())
    return f"{payload}.{_b64(_unsubscribe_mac(secret_key, payload))}"


@dataclass(frozen=True)
class Unsubscribe:
    org_id: int
    channel: str
    address: str


def read_unsubscribe_token(secret_key: str, token: str) -> Unsubscribe | None:
    """What ``token`` unsubscribes, or None if it is not one this server made."""
    payload, dot, mac = token.partition(".")
    if not dot or len(token) > 1000:
        return None
    try:
        given = _unb64(mac)
        fields = _unb64(payload).decode().split("\n")
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(given, _unsubscribe_mac(secret_key, payload)):
        return None
    if len(fields) != 3 or not fields[0].isdigit() or fields[1] not in {c.value for c in Channel}:
        return None
    return Unsubscribe(int(fields[0]), fields[1], fields[2])


def local_text(moment: datetime, timezone: str, fmt: str = "%H:%M") -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(timezone)).strftime(fmt)
