"""A driver still on the road while `make demo` is served: the recipient's side, live.

The simulated day (demo.day) ends with :data:`LIVE_DRIVER`'s route half driven. While
the demo is served, ``python -m demo live`` drives on in real time: a position fix every
few seconds along each leg, sent in the device's sync request (so the server's ETAs
tighten as the driver approaches), then arrived and delivered at the door with a
signature and a photo. A recipient whose link the demo printed watches the page count
down, gets "arriving soon" and then "delivered" in the demo's mailbox, and checks the
proof. The end-to-end test (tests/demo/) drives the same code faster.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.domain.events import EvidenceKind, WhereLeft
from backend.domain.stops import StopStatus
from demo.day import (
    LIVE_DRIVER,
    METRES_PER_DEGREE_LAT,
    _photo,
    _signature,
    keep_fix,
    leg_points,
)
from driver_client.capture import CaptureRefused, Evidence, FixedLocation
from driver_client.device import Device
from driver_client.transport import Offline

# A fix every STEP_S seconds, STEPS_PER_LEG of them from one door to the next.
STEP_S = 20.0
STEPS_PER_LEG = 5
# Where the live driver comes from to the first open stop when no stop is done yet.
FIRST_LEG_M = 1500.0


def _point(stop: dict[str, Any]) -> tuple[float, float]:
    return float(stop["location"]["lat"]), float(stop["location"]["lon"])


class LiveDriver:
    """One driver's device (the driver app's core), moved along the route by the demo.

    The device's GPS is the demo's: each point of a leg is kept as a fix the next sync
    carries (``positions``), stamped with the device's clock.
    """

    def __init__(
        self,
        data: Path,
        server: str,
        username: str,
        password: str,
        seed: int = 11,
    ) -> None:
        self.device = Device(data, server)
        self.device.login(username, password)
        self.rng = random.Random(seed)
        self.here: tuple[float, float] | None = None

    def sync(self) -> None:
        self.device.engine.sync()

    def open_stops(self) -> list[dict[str, Any]]:
        """The stops still to drive to, in driving order."""
        return [s for s in self.device.store.stops() if s["status"] == StopStatus.PENDING]

    def _start_of_leg(self, stop: dict[str, Any]) -> tuple[float, float]:
        if self.here is not None:
            return self.here
        done = [
            s
            for s in self.device.store.stops()
            if s["status"] in (StopStatus.DELIVERED, StopStatus.FAILED)
        ]
        if done:
            return _point(done[-1])
        lat, lon = _point(stop)
        # South of the first stop: on the way from the depot.
        return lat - FIRST_LEG_M / METRES_PER_DEGREE_LAT, lon

    def keep_fix(self, lat: float, lon: float) -> None:
        keep_fix(self.device, lat, lon)
        self.here = (lat, lon)

    def approach(
        self, stop: dict[str, Any], steps: int, pause: Callable[[], None] = lambda: None
    ) -> None:
        """Drive to ``stop`` in ``steps`` fixes, syncing after each (the door is the last)."""
        for lat, lon in leg_points(self._start_of_leg(stop), _point(stop), steps):
            self.keep_fix(lat, lon)
            # Offline: the fixes wait for the next sync, as on a phone.
            with contextlib.suppress(Offline):
                self.sync()
            pause()

    def deliver(self, stop: dict[str, Any]) -> bool:
        """Arrive and deliver at the door with a signature and a photo, then sync.
        False when the stop's proof policy refused the capture (nothing saved)."""
        capture = self.device.capture
        lat, lon = _point(stop)
        capture.location = FixedLocation(lat, lon, 5.0)
        capture.arrive(stop["id"])
        try:
            capture.deliver(
                stop["id"],
                stop["recipient"]["name"] or "Resident",
                [p["barcode"] for p in stop["parcels"]],
                WhereLeft.HANDED_TO_RECIPIENT,
                [
                    Evidence(_signature(self.rng), EvidenceKind.SIGNATURE, "image/png"),
                    Evidence(_photo(self.rng), EvidenceKind.PHOTO, "image/jpeg"),
                ],
                age_verified=True,
            )
        except CaptureRefused:
            return False
        self.sync()
        return True

    def close(self) -> None:
        self.device.close()


def drive_on(
    driver: LiveDriver, steps: int = STEPS_PER_LEG, pause: Callable[[], None] = lambda: None
) -> int:
    """Drive every open stop in turn; returns how many were delivered."""
    delivered = 0
    while stops := driver.open_stops():
        stop = stops[0]
        driver.approach(stop, steps, pause)
        delivered += driver.deliver(stop)
        print(f"live: {LIVE_DRIVER} delivered stop {stop['id']}", flush=True)
    return delivered


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo live", description="Drive the live driver's open stops in real time."
    )
    parser.add_argument("--folder", type=Path, required=True, help="the demo day's folder")
    parser.add_argument("--server", required=True, help="the served demo, http://host:port")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--step", type=float, default=STEP_S, help="seconds between fixes")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds before setting off")
    args = parser.parse_args(argv)
    # Time to open a link before the driver sets off: the page says "planned" first.
    time.sleep(args.wait)
    driver = LiveDriver(args.folder / LIVE_DRIVER, args.server, LIVE_DRIVER, args.password)
    try:
        driver.sync()
        drive_on(driver, pause=lambda: time.sleep(args.step))
    finally:
        driver.close()
    print(f"live: {LIVE_DRIVER}'s day is done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
