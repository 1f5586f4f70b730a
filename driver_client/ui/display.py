"""What the screens write about a stop: local times, windows, and its heading lines.

Times travel in UTC; the driver reads them in the organization's time zone, which the
server names in every sync (``time_zone``, kept in the store).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain.stops import StopStatus
from driver_client.i18n import STOP_STATUS, _, label

# A stop the driver still has to go to.
OPEN_STATUSES = {StopStatus.PENDING.value, StopStatus.ARRIVED.value}


def local_time(moment: str | None, tz: ZoneInfo) -> str:
    """``HH:MM`` in ``tz``; "" when there is no time."""
    if not moment:
        return ""
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(tz).strftime("%H:%M")


def window_text(stop: dict[str, Any], tz: ZoneInfo) -> str:
    """The stop's window as "14:00-16:00", or "any time" without one."""
    window = stop.get("time_window") or {}
    start, end = local_time(window.get("start"), tz), local_time(window.get("end"), tz)
    if not start or not end:
        return _("any time")
    return f"{start}-{end}"


def stop_number(stop: dict[str, Any]) -> str:
    return _("Stop {number}").format(number=stop.get("sequence") or "-")


def status_text(stop: dict[str, Any]) -> str:
    return label(STOP_STATUS, str(stop.get("status", "")))


def next_open_stop(stops: list[dict[str, Any]], current_id: int) -> int | None:
    """The first stop after ``current_id`` in driving order still to be done; then any
    earlier one left behind; None when the day is done."""
    ids = [s["id"] for s in stops]
    here = ids.index(current_id) if current_id in ids else -1
    for stop in stops[here + 1 :] + stops[: max(here, 0)]:
        if stop["status"] in OPEN_STATUSES:
            return int(stop["id"])
    return None
