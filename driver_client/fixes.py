"""Position fixes: the one a capture will record, in words the driver can judge
before saving, and the few the device keeps during the shift for its next sync.

The server learns where the driver is from the sync request (docs/sync-protocol.md),
not from a stream: at each sync the device takes a fix if the day still has a stop to
drive to, keeps the newest :data:`KEEP` (no more than one a :data:`EVERY`), sends them
with the next request and forgets them once the server answered it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from driver_client.capture import Fix, LocationProvider
from driver_client.i18n import _
from driver_client.store import Store

# The server takes at most 20 fixes a request (backend.sync.schemas).
KEEP = 20
EVERY = timedelta(seconds=30)


def describe_fix(fix: Fix | None, now: datetime) -> str:
    """How precise and how old the fix is, or that there is none (saved honestly as such)."""
    if fix is None:
        return _("No position fix: the delivery will be saved without a position.")
    age = max(0, round((now - fix.fixed_at).total_seconds()))
    if age < 2:
        return _("Position within {metres} m, just now.").format(metres=f"{fix.accuracy_m:.0f}")
    return _("Position within {metres} m, {seconds} s ago.").format(
        metres=f"{fix.accuracy_m:.0f}", seconds=age
    )


def take_shift_fix(store: Store, location: LocationProvider | None) -> bool:
    """Keep the current fix for the next sync when the shift is on; True if kept."""
    if location is None or not store.has_open_stops():
        return False
    fix = location.current_fix()
    if fix is None or not _sendable(fix):
        return False
    last = store.last_fix_time()
    if last is not None and fix.fixed_at - datetime.fromisoformat(last) < EVERY:
        return False
    store.keep_fix(
        {
            "lat": fix.lat,
            "lon": fix.lon,
            "accuracy_m": fix.accuracy_m,
            "recorded_at": fix.fixed_at.isoformat(),
        },
        KEEP,
    )
    return True


def _sendable(fix: Fix) -> bool:
    """A fix the server will take: a glitching GPS must not hold back the events."""
    return (
        fix.fixed_at.tzinfo is not None
        and all(math.isfinite(v) for v in (fix.lat, fix.lon, fix.accuracy_m))
        and -90 <= fix.lat <= 90
        and -180 <= fix.lon <= 180
        and 0 <= fix.accuracy_m <= 100_000
    )
