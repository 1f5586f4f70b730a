"""`make demo`: a whole simulated day, headless, against a fresh server.

Five drivers, each with the core client in its own data folder, work through their
stops: they arrive, deliver (signature, photo, parcel scans, age check when asked) or
fail with a reason. They go offline for stretches, and devices are killed mid-capture
and restarted. Meanwhile a dispatcher cancels and reassigns stops. At the end every
device comes online and syncs, and the demo prints, per driver, what was captured,
synced, conflicted and pending, then checks that nothing captured was lost.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image

from backend.cli import migrate
from backend.config import load_settings
from backend.db.session import Database
from backend.devserver import background_server, free_port
from backend.seed import seed_demo
from driver_client.capture import CaptureRefused, Evidence, FixedLocation
from driver_client.device import Device
from driver_client.media import prepare_photo, render_signature
from driver_client.store import ACKNOWLEDGED
from driver_client.transport import Offline

ROUNDS = 8
STOPS_PER_ROUND = 4
OFFLINE_CHANCE = 0.35
KILL_CHANCE = 0.15


@dataclass
class Driver:
    name: str
    device: Device
    data: Path
    online_url: str
    captured: int = 0
    kills: int = 0
    recovered: int = 0
    offline_rounds: int = 0


def _photo(rng: random.Random) -> bytes:
    image = Image.new("RGB", (1600, 1200), (rng.randrange(256), 120, 90))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return prepare_photo(out.getvalue())


def _signature(rng: random.Random) -> bytes:
    stroke = [(20 + i * 30, 40 + rng.randrange(80)) for i in range(10)]
    return render_signature([stroke], canvas_size=(400, 160))


def _api(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback demo server
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def _work_a_stop(driver: Driver, stop: dict[str, Any], rng: random.Random) -> None:
    capture = driver.device.capture
    capture.arrive(stop["id"])
    if rng.random() < 0.12:
        reason = rng.choice(["recipient_absent", "access_denied", "business_closed"])
        capture.fail(stop["id"], reason)
    else:
        evidence = [
            Evidence(_signature(rng), "signature", "image/png"),
            Evidence(_photo(rng), "photo", "image/jpeg"),
        ]
        barcodes = [p["barcode"] for p in stop["parcels"]]
        capture.deliver(
            stop["id"],
            stop["recipient"]["name"] or "Resident",
            barcodes,
            "handed_to_recipient",
            evidence,
            age_verified=True,
        )
    driver.captured += 2


# Runs one delivery in a separate process that SIGKILLs itself inside the capture's
# transaction: the files are on disk, the event never commits, the driver never saw
# "saved". The restarted app must find the files and keep them.
KILL_MID_CAPTURE = """
import json, os, signal, sys
from pathlib import Path
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
stop = json.loads(sys.argv[3])
device = Device(Path(sys.argv[1]), sys.argv[2], FixedLocation(47.62, -122.33, 8))
real_put = device.store.put
def put(key, value, db=None):
    real_put(key, value, db)
    if key == "hlc":
        os.kill(os.getpid(), signal.SIGKILL)
device.store.put = put
files = [Evidence(b"\\x89PNG\\r\\n" + os.urandom(64), "signature", "image/png"),
         Evidence(b"\\xff\\xd8\\xff" + os.urandom(256), "photo", "image/jpeg")]
device.capture.deliver(stop["id"], "Resident", [p["barcode"] for p in stop["parcels"]],
                       "front_door", files, age_verified=True)
"""


def _kill_mid_capture_and_restart(driver: Driver, stop: dict[str, Any] | None) -> None:
    driver.device.close()
    if stop is not None:
        subprocess.run(  # noqa: S603 - this interpreter, our own snippet
            [
                sys.executable,
                "-c",
                KILL_MID_CAPTURE,
                str(driver.data),
                driver.online_url,
                json.dumps(stop),
            ],
            check=False,
            timeout=60,
        )
    driver.device = Device(driver.data, driver.online_url, FixedLocation(47.62, -122.33, 8))
    driver.kills += 1
    driver.recovered = len(driver.device.orphans)


def run_day(folder: Path, seed: int = 7) -> int:
    rng = random.Random(seed)
    settings = load_settings(
        environ={}, database_url=f"sqlite:///{folder / 'demo.db'}", storage_dir=folder / "evidence"
    )
    migrate(settings)
    database = Database(settings.database_url)
    with database.session() as session:
        seed_demo(session, settings, date.today())
    dead_url = f"http://127.0.0.1:{free_port()}"
    with background_server(settings) as base:
        print(f"demo server on {base}; a day for 5 drivers, {ROUNDS} rounds")
        drivers = []
        for n in range(1, 6):
            data = folder / f"driver{n}"
            device = Device(data, base, FixedLocation(47.62, -122.33, 8))
            device.login(f"driver{n}", settings.demo_password)
            device.engine.sync()
            drivers.append(Driver(f"driver{n}", device, data, base))
        dispatch = _api(
            base,
            "POST",
            "/api/v1/auth/token",
            "",
            {"username": "dispatch", "password": settings.demo_password, "device_id": "console"},
        )["access_token"]
        for round_no in range(1, ROUNDS + 1):
            for driver in drivers:
                offline = rng.random() < OFFLINE_CHANCE
                driver.device.transport.base_url = dead_url if offline else base
                driver.offline_rounds += offline
                todo = [s for s in driver.device.store.stops() if s["status"] == "pending"]
                for stop in todo[:STOPS_PER_ROUND]:
                    try:
                        _work_a_stop(driver, stop, rng)
                    except CaptureRefused as exc:
                        print(f"  {driver.name}: not saved on stop {stop['id']}: {exc}")
                if rng.random() < KILL_CHANCE:
                    left = [s for s in driver.device.store.stops() if s["status"] == "pending"]
                    _kill_mid_capture_and_restart(driver, left[0] if left else None)
                    if offline:
                        driver.device.transport.base_url = dead_url
                with contextlib.suppress(Offline):
                    driver.device.engine.sync()
            _dispatcher_moves(base, dispatch, rng, round_no)
        for driver in drivers:
            driver.device.transport.base_url = base
            for _ in range(5):
                driver.device.engine.sync()
                if (
                    not driver.device.store.pending_count()
                    and not driver.device.store.pending_files()
                ):
                    break
        return _report(drivers, base, dispatch)


def _dispatcher_moves(base: str, token: str, rng: random.Random, round_no: int) -> None:
    today = date.today().isoformat()
    stops = _api(base, "GET", f"/api/v1/stops?date={today}&status=pending&limit=1000", token)
    items = stops["items"]
    if not items:
        return
    # Dispatch acts on the stops drivers are about to reach, so an offline driver
    # sometimes delivers a stop that was cancelled or moved meanwhile.
    driver = rng.choice(sorted({i["driver"] for i in items if i["driver"]}))
    upcoming = sorted((i for i in items if i["driver"] == driver), key=lambda i: i["sequence"])
    victim = upcoming[min(len(upcoming) - 1, rng.randrange(3))]
    _api(
        base,
        "POST",
        f"/api/v1/stops/{victim['id']}/cancel",
        token,
        {"reason": f"customer asked to cancel (round {round_no})"},
    )
    moved = rng.choice(items)
    target = rng.choice([f"driver{n}" for n in range(1, 6) if f"driver{n}" != moved["driver"]])
    manifest = _api(base, "GET", f"/api/v1/manifests/{target}/{today}", token)
    ids = [s["id"] for s in manifest.get("stops", [])]
    if moved["id"] not in ids and moved["id"] != victim["id"]:
        _api(
            base,
            "PUT",
            f"/api/v1/manifests/{target}/{today}",
            token,
            {"stop_ids": [*ids, moved["id"]]},
        )


def _report(drivers: list[Driver], base: str, token: str) -> int:
    print(
        f"\n{'driver':<9}{'captured':>9}{'synced':>8}{'conflict':>9}{'rejected':>9}"
        f"{'pending':>8}{'files left':>11}{'offline':>8}{'kills':>6}{'recovered':>10}"
    )
    lost = 0
    for driver in drivers:
        store = driver.device.store
        rows = store.query("SELECT event_id, stop_id, result FROM outbox")
        results = [r["result"] for r in rows]
        synced = sum(r in ACKNOWLEDGED for r in results)
        print(
            f"{driver.name:<9}{len(rows):>9}{synced:>8}"
            f"{results.count('conflict'):>9}{results.count('rejected'):>9}"
            f"{results.count(None):>8}{len(store.pending_files()):>11}"
            f"{driver.offline_rounds:>8}{driver.kills:>6}{driver.recovered:>10}"
        )
        for row in rows:
            bundle = _api(base, "GET", f"/api/v1/stops/{row['stop_id']}/proof", token)
            if row["event_id"] not in {e["id"] for e in bundle.get("events", [])}:
                lost += 1
                print(f"  LOST: {driver.name} event {row['event_id']} on stop {row['stop_id']}")
            unverified = [f["sha256"] for f in bundle.get("files", []) if not f["verified"]]
            if unverified:
                lost += 1
                print(f"  MISSING FILES: stop {row['stop_id']}: {unverified}")
        driver.device.close()
    if lost:
        print(f"\nFAILED: {lost} captured event(s) are not on the server")
        return 1
    print("\nOK: every captured event is on the server, once; nothing was lost")
    return 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="doorstep-demo-") as folder:
        return run_day(Path(folder))


if __name__ == "__main__":
    sys.exit(main())
