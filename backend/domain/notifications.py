"""The rules of recipient messages that need no database: which kinds exist, when
quiet hours end, and how a failure or a settled dispute is told in plain words.

Pure: the outbox (``backend.notifications``) asks these questions; nothing here
sends, stores or reads a clock.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


class Kind(enum.StrEnum):
    OUT_FOR_DELIVERY = "out_for_delivery"
    ARRIVING_SOON = "arriving_soon"
    DELIVERED = "delivered"
    FAILED = "failed"
    RESCHEDULED = "rescheduled"
    DISPUTE_SETTLED = "dispute_settled"


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Status(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(
    moment: datetime, timezone: str, start: str | None, end: str | None
) -> datetime | None:
    """When the quiet hours around ``moment`` end (UTC), or None if it is not in them.

    ``start``/``end`` are the organization's local ``HH:MM``; a span past midnight
    (21:00 to 08:00) is quiet from ``start`` to ``end`` the next morning. Equal ends
    mean no quiet hours. The end is found in local time, so a change of daylight saving
    overnight still ends the quiet hours at the local ``end`` the clock shows.
    """
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    begins, ends = _clock_time(start), _clock_time(end)
    now = local.time().replace(tzinfo=None)
    if begins < ends:
        quiet = begins <= now < ends
        end_day = local.date()
    else:
        quiet = now >= begins or now < ends
        end_day = local.date() + timedelta(days=1) if now >= begins else local.date()
    if not quiet:
        return None
    return datetime.combine(end_day, ends, zone).astimezone(UTC)


# Said only when it is what really happens: a failed stop is rolled over to another
# attempt by the back office (a re-plan), and the recipient is told its date then.
FAILED_NEXT_STEP = (
    "We will plan another attempt and send you its date. "
    "You can also use your tracking link to add delivery instructions."
)


def dispute_outcome_in_words(
    status: str,
    remedy: str | None,
    refund_amount: Decimal | str | None,
    refund_currency: str | None,
    redelivery_date: date | None,
) -> str:
    """What settling a dispute means for the recipient, saying only what happens."""
    if status == "rejected":
        return (
            "We reviewed your report against the delivery's evidence and could not "
            "uphold it, so no refund or new delivery will be made."
        )
    if remedy == "refund" and refund_amount is not None:
        amount = f"{refund_amount} {refund_currency}" if refund_currency else f"{refund_amount}"
        return f"We upheld your report: a refund of {amount} has been approved."
    if remedy == "redeliver" and redelivery_date is not None:
        return (
            f"We upheld your report: your order will be delivered again on "
            f"{redelivery_date.strftime('%A %d %B %Y')}."
        )
    return "We upheld your report."
