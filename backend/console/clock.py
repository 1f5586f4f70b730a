"""Times as the people reading the console live them: in the organization's time zone.

Everything is stored and exchanged in UTC; the console shows local time with the zone's
abbreviation, and keeps the exact UTC instant in the element's ``datetime`` and
``title`` for anyone who needs it (hashes and receipts still print their UTC strings).
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup

from backend.console.blueprint import bp
from backend.domain.clock import utc_text, zone

FULL = "%Y-%m-%d %H:%M"


def as_datetime(moment: datetime | str | None) -> datetime | None:
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(moment: datetime | str | None, tz: str | None, fmt: str = FULL) -> Markup:
    """``<time>`` showing ``moment`` in ``tz`` (with the zone's abbreviation)."""
    instant = as_datetime(moment)
    if instant is None:
        return Markup("—")
    utc = utc_text(instant.astimezone(UTC))
    shown = instant.astimezone(zone(tz)).strftime(f"{fmt} %Z")
    # Markup.format escapes every argument: the only markup is the literal tag.
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(utc, shown)


@bp.app_template_filter("local")
def local_filter(moment: datetime | str | None, fmt: str = FULL) -> Markup:
    from backend.console.auth import current_user

    user = current_user()
    return local_time(moment, user.timezone if user else None, fmt)
