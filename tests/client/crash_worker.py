"""A device process that captures and syncs until it is killed (see test_crash.py).

Usage: crash_worker.py DATA_DIR SERVER_URL STOP_IDS KILL_AT CLOCK_START
KILL_AT names the step at which the process SIGKILLs itself ("none" to run until
killed from outside). CLOCK_START is the test server's clock reading (ISO-8601): the
phone's clock starts there and runs, so the two agree as a real phone and server do.
It prints "CONFIRMED <event id>" the moment a capture call returns, which is when a
driver would see "saved".
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.domain.clock import SetClock
from driver_client import capture as capture_module
from driver_client import sync as sync_module
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
from driver_client.media import render_signature

STEPS = ("file_written", "before_commit", "captured", "response_received", "applying")


def die_at(point: str, kill_at: str) -> None:
    if point == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    data, server, stop_ids, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    now = SetClock(datetime.fromisoformat(sys.argv[5])).now
    stops = [int(s) for s in stop_ids.split(",")]
    device = Device(Path(data), server, FixedLocation(47.61, -122.33, 5, now), now)

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

    n = 0
    while True:
        stop_id = stops[n % len(stops)]
        # Random ink: every delivery's signature is a distinct real image.
        ink = [(i * 10.0, float(b)) for i, b in enumerate(os.urandom(8))]
        drawn = render_signature([ink], canvas_size=(80, 256))
        signature = Evidence(drawn, "signature", "image/png")
        event = device.capture.deliver(stop_id, f"Recipient {n}", evidence=[signature])
        print(f"CONFIRMED {event['id']}", flush=True)
        die_at("captured", kill_at)
        with contextlib.suppress(sync_module.Offline):
            device.engine.sync()
        n += 1


if __name__ == "__main__":
    main()
