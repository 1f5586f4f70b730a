"""A driver's app in its own process, which SIGKILLs itself at a chosen step.

One worker for the two places that kill the app between capture and acknowledgement:

- the client's crash test (tests/client/test_crash.py) delivers ``--stops`` in turn,
  syncing after each, until it dies at KILL_AT (or, with "none", until the test kills
  it from outside);
- the demo's day (demo.day) kills a driver's app once, inside a capture's transaction:
  one delivery of ``--stop``, dying at "before_commit" with its files on disk and its
  event never committed. The restarted app must find the files and keep them.

    python -m demo.crash_worker DATA_DIR SERVER_URL KILL_AT (--stops IDS | --stop JSON)
        [--at JSON] [--clock-start ISO-8601]

It prints "CONFIRMED <event id>" the moment a capture call returns, which is when a
driver would see "saved".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.domain.clock import SetClock, system_now
from backend.domain.events import EvidenceKind, WhereLeft
from driver_client import capture as capture_module
from driver_client.capture import Evidence, FixedLocation, LocationProvider, NoLocation
from driver_client.device import Device
from driver_client.media import render_signature
from driver_client.transport import Offline

STEPS = ("file_written", "before_commit", "captured", "response_received", "applying")
# Where the crash test's driver stands: downtown Seattle, a 5 m fix.
DOWNTOWN = {"lat": 47.61, "lon": -122.33, "accuracy_m": 5}


def die_at(point: str, kill_at: str) -> None:
    if point == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


def install_kill_points(device: Device, kill_at: str) -> None:
    """Make ``device`` SIGKILL its own process when it reaches the step ``kill_at``."""
    real_replace = os.replace

    def replace_then_maybe_die(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        die_at("file_written", kill_at)

    capture_module.os.replace = replace_then_maybe_die  # type: ignore[attr-defined]
    real_put = device.store.put

    def put_then_maybe_die(key: str, value: Any, db: Any = None) -> None:
        real_put(key, value, db)
        if key == "hlc":
            die_at("before_commit", kill_at)  # inside the capture's transaction
        if key == "cursor":
            die_at("applying", kill_at)  # inside the sync's transaction

    device.store.put = put_then_maybe_die  # type: ignore[method-assign]
    real_post = device.transport.post_json

    def post_then_maybe_die(path: str, body: Any) -> Any:
        reply = real_post(path, body)
        die_at("response_received", kill_at)
        return reply

    device.transport.post_json = post_then_maybe_die  # type: ignore[method-assign]


def deliver_until_killed(device: Device, stops: Sequence[int], kill_at: str) -> None:
    n = 0
    while True:
        stop_id = stops[n % len(stops)]
        # Random ink: every delivery's signature is a distinct real image.
        ink = [(i * 10.0, float(b)) for i, b in enumerate(os.urandom(8))]
        drawn = render_signature([ink], canvas_size=(80, 256))
        signature = Evidence(drawn, EvidenceKind.SIGNATURE, "image/png")
        event = device.capture.deliver(stop_id, f"Recipient {n}", evidence=[signature])
        print(f"CONFIRMED {event['id']}", flush=True)
        die_at("captured", kill_at)
        with contextlib.suppress(Offline):
            device.engine.sync()
        n += 1


def deliver_once(device: Device, stop: dict[str, Any]) -> None:
    """Deliver ``stop`` (as the manifest gives it) at the door, signed and photographed."""
    # Bytes that only look like images: a capture killed before its commit never
    # uploads them, and the restarted app only has to find and keep them.
    files = [
        Evidence(b"\x89PNG\r\n" + os.urandom(64), EvidenceKind.SIGNATURE, "image/png"),
        Evidence(b"\xff\xd8\xff" + os.urandom(256), EvidenceKind.PHOTO, "image/jpeg"),
    ]
    barcodes = [parcel["barcode"] for parcel in stop["parcels"]]
    event = device.capture.deliver(
        stop["id"], "Resident", barcodes, WhereLeft.FRONT_DOOR, files, age_verified=True
    )
    print(f"CONFIRMED {event['id']}", flush=True)


def _location(stamp: dict[str, Any] | None, now: Callable[[], datetime]) -> LocationProvider:
    if stamp is None:
        return NoLocation()
    return FixedLocation(stamp["lat"], stamp["lon"], stamp["accuracy_m"], now)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.crash_worker", description=__doc__)
    parser.add_argument("data", type=Path, help="the app's data folder")
    parser.add_argument("server", help="the server's base URL")
    parser.add_argument("kill_at", choices=[*STEPS, "none"], help="the step to die at")
    work = parser.add_mutually_exclusive_group(required=True)
    work.add_argument("--stops", help="stop ids (comma-separated) to deliver until killed")
    work.add_argument("--stop", type=json.loads, help="one stop (manifest JSON) to deliver")
    parser.add_argument(
        "--at",
        type=json.loads,
        default=DOWNTOWN,
        help='the GPS fix, {"lat", "lon", "accuracy_m"}; null for none',
    )
    parser.add_argument(
        "--clock-start",
        type=datetime.fromisoformat,
        help="the server's clock reading: the phone's clock starts there and runs, so the "
        "two agree as a real phone and server do (default: this machine's clock)",
    )
    args = parser.parse_args(argv)
    now = SetClock(args.clock_start).now if args.clock_start else system_now
    device = Device(args.data, args.server, _location(args.at, now), now)
    install_kill_points(device, args.kill_at)
    if args.stop is not None:
        deliver_once(device, args.stop)
    else:
        deliver_until_killed(device, [int(s) for s in args.stops.split(",")], args.kill_at)


if __name__ == "__main__":
    main(sys.argv[1:])
