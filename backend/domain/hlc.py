"""Hybrid logical clocks (Kulkarni et al., 2014).

A stamp is (physical milliseconds, counter, node). It stays close to wall time, never
goes backwards on one node even when the wall clock does, and orders an event after
everything its node had seen. The string form is fixed-width, so ordering strings
orders stamps::

    001764003482114-000003-handheld-7
    └ wall ms, 15 ┘ └ ctr ┘ └ node ┘
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.domain.clock import system_now

NODE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # fullmatch: "$" passes "\n"
STAMP_PATTERN = re.compile(r"(\d{15})-(\d{6})-([A-Za-z0-9_.:-]{1,64})")
MAX_COUNTER = 999_999
# A remote stamp further ahead of our physical clock than this is not believed: one
# device with a clock set a year ahead must not drag every clock it touches along.
DEFAULT_MAX_DRIFT_MS = 24 * 3600 * 1000


class ClockDriftError(ValueError):
    """A remote stamp is too far ahead of this node's physical clock."""


@dataclass(frozen=True, order=True)
class HLCTimestamp:
    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms < 10**15:
            raise ValueError("wall_ms out of range")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError("counter out of range")
        if not NODE_PATTERN.fullmatch(self.node):
            raise ValueError("node must be 1-64 of [A-Za-z0-9_.:-]")

    def __str__(self) -> str:
        return f"{self.wall_ms:015d}-{self.counter:06d}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> HLCTimestamp:
        if not isinstance(text, str):
            raise ValueError("an HLC stamp is a string")
        match = STAMP_PATTERN.fullmatch(text)
        if match is None:
            raise ValueError("an HLC stamp looks like 001764003482114-000000-node")
        return cls(int(match.group(1)), int(match.group(2)), match.group(3))


def system_ms() -> int:
    return int(system_now().timestamp() * 1000)


class HybridLogicalClock:
    """One node's clock. Not thread-safe: give each writer its own or lock around it."""

    def __init__(
        self,
        node: str,
        now_ms: Callable[[], int] = system_ms,
        last: HLCTimestamp | None = None,
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        if not NODE_PATTERN.fullmatch(node):
            raise ValueError("node must be 1-64 of [A-Za-z0-9_.:-]")
        self.node = node
        self.now_ms = now_ms
        self.max_drift_ms = max_drift_ms
        self.wall_ms = last.wall_ms if last else 0
        self.counter = last.counter if last else 0

    def _stamp(self) -> HLCTimestamp:
        if self.counter > MAX_COUNTER:
            # Over a million events in one millisecond: borrow the next millisecond.
            self.wall_ms += 1
            self.counter = 0
        return HLCTimestamp(self.wall_ms, self.counter, self.node)

    def tick(self) -> HLCTimestamp:
        """A stamp for a local event (or a message about to be sent)."""
        physical = self.now_ms()
        if physical > self.wall_ms:
            self.wall_ms, self.counter = physical, 0
        else:
            self.counter += 1
        return self._stamp()

    def observe(self, remote: HLCTimestamp) -> HLCTimestamp:
        """Merge a received stamp; the result orders after both clocks."""
        physical = self.now_ms()
        if remote.wall_ms - physical > self.max_drift_ms:
            raise ClockDriftError(
                f"remote clock is {(remote.wall_ms - physical) // 1000} s ahead of ours"
            )
        new_wall = max(self.wall_ms, remote.wall_ms, physical)
        if new_wall == self.wall_ms and new_wall == remote.wall_ms:
            self.counter = max(self.counter, remote.counter) + 1
        elif new_wall == self.wall_ms:
            self.counter += 1
        elif new_wall == remote.wall_ms:
            self.counter = remote.counter + 1
        else:
            self.counter = 0
        self.wall_ms = new_wall
        return self._stamp()

    def state(self) -> dict[str, Any]:
        """What to persist so the clock never runs backwards across restarts."""
        return {"node": self.node, "wall_ms": self.wall_ms, "counter": self.counter}

    @classmethod
    def restore(
        cls, state: dict[str, Any], now_ms: Callable[[], int] = system_ms
    ) -> HybridLogicalClock:
        node = str(state["node"])
        last = HLCTimestamp(int(state["wall_ms"]), int(state["counter"]), node)
        return cls(node, now_ms, last)
