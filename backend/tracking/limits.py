"""How often one client address, and one tracking link, may ask for a tracking page.

The same answer as the login throttle (``rate_limited``, 429, with ``Retry-After``)
and the same care: keys are hashed, so the table in memory never holds a link or an
address in the clear. Unlike the login throttle, which counts failures in the
database, this counts every request: a recipient's page polls twice a minute, and a
database write per poll would slow the drivers' syncs that share the database. So the
counts live in each server process (fixed one-minute windows, a bounded number of
keys): a server with N processes allows up to N times the limit, which still stops a
scraper walking tokens or a page stuck in a reload loop.
"""

from __future__ import annotations

import hashlib
import math
import threading
from datetime import datetime

from backend.domain.refusal import Refusal

WINDOW_S = 60
# Past this many keys the oldest windows are dropped: memory stays bounded whatever
# the traffic (a key is about 150 bytes).
MAX_KEYS = 100_000


class TrackingLimiter:
    def __init__(self, per_ip: int, per_link: int) -> None:
        self.per_ip = per_ip
        self.per_link = per_link
        self._lock = threading.Lock()
        # key -> (window number, requests in it)
        self._counts: dict[str, tuple[int, int]] = {}

    def check(self, client_ip: str, token: str, now: datetime) -> None:
        """Count one request; refuse (``rate_limited``) if either limit is used up."""
        moment = now.timestamp()
        window = int(moment // WINDOW_S)
        with self._lock:
            over = [
                self._count(_key("ip", client_ip), window) > self.per_ip,
                self._count(_key("link", token), window) > self.per_link,
            ]
        if any(over):
            retry_after = max(1, math.ceil((window + 1) * WINDOW_S - moment))
            raise Refusal(
                "rate_limited",
                f"too many requests for this tracking page; try again in {retry_after} s",
                retry_after_s=retry_after,
            )

    def _count(self, key: str, window: int) -> int:
        seen_window, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        if key not in self._counts and len(self._counts) >= MAX_KEYS:
            self._forget_old(window)
        self._counts[key] = (window, count)
        return count

    def _forget_old(self, window: int) -> None:
        stale = [key for key, (seen, _) in self._counts.items() if seen < window]
        for key in stale or list(self._counts)[: MAX_KEYS // 10]:
            del self._counts[key]


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
