"""Child process for bench/client.py: time the manifest list in the real Kivy app."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")

from kivy.clock import Clock

from driver_client.device import Device
from driver_client.photos import NoCamera
from driver_client.ui.app import DriverApp


def _stop(n: int) -> dict[str, object]:
    return {
        "id": n,
        "sequence": n,
        "version": 1,
        "status": "pending",
        "order_number": f"O{n}",
        "address": f"{100 + n} Fremont Ave N, Seattle, WA 98103",
        "time_window": {"start": "2026-11-24T16:00:00Z", "end": "2026-11-24T20:00:00Z"},
        "recipient": {"name": "R", "phone": ""},
        "parcels": [{"barcode": f"P{n}"}],
        "proof_policy": {},
        "instructions": "",
        "location": {"lat": 47.6, "lon": -122.3},
    }


def main() -> None:
    folder = Path(sys.argv[1])
    device = Device(folder, "http://127.0.0.1:9")
    device.store.put("access_token", "unused")  # open straight on the list
    app = DriverApp(device, NoCamera(), sync_interval_s=3600)
    timings: dict[str, float] = {}

    def fill(count: int) -> None:
        with device.store.transaction() as db:
            db.execute("DELETE FROM stops")
            for n in range(1, count + 1):
                device.store.upsert_stop(db, _stop(n))

    def measure(count: int, key: str, then: object) -> None:
        fill(count)
        screen = app.root.get_screen("manifest")
        started = time.perf_counter()
        screen.refresh()
        screen.ids.list.refresh_from_data()
        Clock.tick()  # layout and draw one frame
        timings[key] = (time.perf_counter() - started) * 1000
        Clock.schedule_once(then, 0.2)

    def done(_dt: float) -> None:
        timings["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(timings), flush=True)
        app.stop()

    def start(_dt: float) -> None:
        measure(1, "one_ms", lambda _dt: measure(160, "many_ms", done))

    Clock.schedule_once(start, 0.5)
    app.run()
    device.close()


if __name__ == "__main__":
    main()
