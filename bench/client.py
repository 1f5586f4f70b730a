"""Driver client costs: durable capture, a day's sync traffic, list rendering, memory.

- Capture-to-durable: a delivery with signature and photo, from the call to its
  return (files fsynced, event committed with synchronous=FULL), against the floor of
  one bare durable SQLite commit of the same event row on the same disk.
- A day's sync for one driver (150 stops, arrive + deliver each, syncing after every
  stop, online): requests and bytes. Target: one sync request per sync.
- The manifest list for 160 stops in the real Kivy app under Xvfb, and the app's
  memory, measured in a child process (skipped when Xvfb is missing).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image

from backend.db.session import Database
from backend.domain.events import EvidenceKind
from bench.common import Row, fresh_settings, server
from demo.seed import seed_demo
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
from driver_client.media import prepare_photo, render_signature
from driver_client.transport import Response, Transport

CAPTURES = 40


def _evidence(n: int) -> list[Evidence]:
    image = Image.new("RGB", (1600, 1200), (n % 256, 90, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    strokes = [[(10 + i * 20, 30 + (i * 7 + n) % 60) for i in range(12)]]
    return [
        Evidence(render_signature(strokes, (300, 100)), EvidenceKind.SIGNATURE, "image/png"),
        Evidence(prepare_photo(out.getvalue()), EvidenceKind.PHOTO, "image/jpeg"),
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _durable_floor(folder: Path, body: str) -> list[float]:
    db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE outbox (event_id TEXT PRIMARY KEY, body TEXT)")
    times = []
    for n in range(CAPTURES):
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO outbox VALUES (?, ?)", (f"e{n}", body))
        db.execute("COMMIT")
        times.append(time.perf_counter() - started)
    db.close()
    return times


class CountingTransport(Transport):
    requests: dict[str, int]
    bytes_up = 0
    bytes_down = 0

    def send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        reply = super().send(method, url, data, headers)
        kind = (
            "sync" if url.endswith("/api/v1/sync") else "upload" if "/evidence/" in url else "other"
        )
        self.requests[kind] = self.requests.get(kind, 0) + 1
        self.bytes_up += len(data or b"")
        self.bytes_down += len(json.dumps(reply.body)) if reply.body is not None else 0
        return reply


def _day(base: str, folder: Path, password: str) -> dict[str, Any]:
    device = Device(folder / "phone", base, FixedLocation(47.66, -122.38, 6))
    counting = CountingTransport(base, device.store)
    counting.requests = {}
    device.transport = counting
    device.engine.transport = counting
    device.login("driver1", password)
    device.engine.sync()
    counting.requests = {}
    counting.bytes_up = counting.bytes_down = 0
    syncs = 0
    capture_times = []
    for n, stop in enumerate(device.store.stops()):
        device.capture.arrive(stop["id"])
        started = time.perf_counter()
        device.capture.deliver(
            stop["id"],
            "Resident",
            [p["barcode"] for p in stop["parcels"]],
            "front_door",
            _evidence(n),
            age_verified=True,
        )
        capture_times.append(time.perf_counter() - started)
        device.engine.sync()
        syncs += 1
    quiet = dict(counting.requests)
    device.engine.sync()  # nothing pending, no files owed
    quiet_requests = counting.requests.get("sync", 0) - quiet.get("sync", 0)
    device.close()
    return {
        "stops": syncs,
        "syncs": syncs,
        "sync_requests": quiet.get("sync", 0),
        "upload_requests": quiet.get("upload", 0),
        "bytes_up": counting.bytes_up,
        "bytes_down": counting.bytes_down,
        "quiet_sync_requests": quiet_requests,
        "capture_times": capture_times,
    }


def _ui_render(folder: Path) -> dict[str, float] | None:
    if shutil.which("xvfb-run") is None:
        return None
    script = Path(__file__).with_name("ui_render.py")
    env = {
        **os.environ,
        "KIVY_HOME": str(folder / "kivy"),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
    }
    out = subprocess.run(
        [
            str(shutil.which("xvfb-run")),
            "-a",
            "-s",
            "-screen 0 480x800x24",
            sys.executable,
            str(script),
            str(folder / "ui"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        settings = fresh_settings(folder)
        database = Database(settings.database_url)
        with database.session() as session:
            seed_demo(session, settings, date.today())
        database.dispose()
        with server(settings) as base:
            day = _day(base, folder, settings.demo_password)
        floor = _durable_floor(folder, "x" * 900)
        ui = _ui_render(folder)
    captures = day["capture_times"]
    median, floor_median = statistics.median(captures), statistics.median(floor)
    rows = [
        Row("durable SQLite commit of one event row (floor)", floor_median * 1000, "ms"),
        Row(
            "capture to durable, median (signature + photo)",
            median * 1000,
            "ms",
            floor_median * 1000,
        ),
        Row("capture to durable, p95", _percentile(captures, 0.95) * 1000, "ms"),
        Row(
            f"a day's sync for one driver ({day['stops']} stops): sync requests",
            day["sync_requests"],
            "requests",
            target=f"= {day['syncs']} (one per sync)",
            ok=day["sync_requests"] == day["syncs"],
        ),
        Row("  ... file upload requests", day["upload_requests"], "requests"),
        Row("  ... bytes sent / received", day["bytes_up"] / 1024, "KiB up"),
        Row("  ... bytes received", day["bytes_down"] / 1024, "KiB down"),
        Row(
            "a sync with nothing pending and no files owed",
            day["quiet_sync_requests"],
            "requests",
            target="1",
            ok=day["quiet_sync_requests"] == 1,
        ),
    ]
    if ui is None:
        rows.append(Row("manifest list render (Kivy): skipped, no Xvfb", 0, ""))
    else:
        rows += [
            Row("manifest list, 1 stop: refresh + frame (floor)", ui["one_ms"], "ms"),
            Row("manifest list, 160 stops: refresh + frame", ui["many_ms"], "ms", ui["one_ms"]),
            Row("driver app memory (max RSS)", ui["rss_mib"], "MiB"),
        ]
    return rows
