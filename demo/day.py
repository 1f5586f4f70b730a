"""`make demo`: a whole simulated day, headless, left behind in a folder for the console.

Five drivers, each with the core client in its own data folder, work through their
stops: they drive from door to door (their GPS keeps a few fixes on each leg, sent in
the next sync request, so the server's ETAs follow them), arrive, deliver (signature,
photo, parcel scans, age check when asked) or fail with a reason, each capture geo-
stamped at the door (now and then far from it, or with no fix). They go offline for
stretches, and devices are killed mid-capture and restarted. Meanwhile a dispatcher
cancels and reassigns stops. At the end every device comes online and syncs, and the
demo prints, per driver, what was captured, synced, conflicted and pending, checks that
nothing captured was lost, and sums up what back office will find in the console's
exception queue.

The day stays in ``--folder`` (SQLite database and evidence files); ``make demo`` then
serves that folder (demo.serve), so the day can be reconciled and disputed for real.
:data:`LIVE_DRIVER`'s open stops are driven by demo.live in real time while the day is
served, for the recipients' side (tracking page,
"arriving soon", the proof). The demo organization shows delivery photos on the
tracking page (``tracking_show_photo``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from backend.admin.settings import change_settings
from backend.cli import migrate
from backend.config import PROJECT_ROOT, load_settings
from backend.db.models import Manifest, Organization, PromiseChange, Stop, User
from backend.db.session import Database, scope_to_tenant
from backend.domain.clock import local_date, system_now
from backend.domain.events import EventResultStatus, EvidenceKind, FailureReason, WhereLeft
from backend.domain.geo import GeoOutcome
from backend.domain.reconcile import ExceptionKind
from backend.domain.stops import StopStatus
from backend.tracking import tokens
from demo.devserver import background_server, free_port
from demo.seed import DEMO_SLUG, seed_demo
from demo.seed_data import METRO_TIMEZONE
from driver_client.capture import (
    CaptureRefused,
    Evidence,
    FixedLocation,
    LocationProvider,
    NoLocation,
)
from driver_client.device import Device
from driver_client.fixes import KEEP
from driver_client.media import prepare_photo, render_signature
from driver_client.store import ACKNOWLEDGED
from driver_client.transport import Offline

ROUNDS = 8
STOPS_PER_ROUND = 4
OFFLINE_CHANCE = 0.35
KILL_CHANCE = 0.15
FAIL_CHANCE = 0.12

# Where the driver stood: mostly at the door, a few captures from down the road (an
# outside-geofence exception) and a few with no GPS fix at all (basements, towers).
FAR_AWAY_CHANCE = 0.04
NO_FIX_CHANCE = 0.02
DOORSTEP_JITTER_M = (0.0, 8.0)
FAR_AWAY_M = (300.0, 900.0)
ACCURACY_M = (5.0, 15.0)
METRES_PER_DEGREE_LAT = 111_320.0

# Windows are re-planned around the moment the demo runs (the seed plans them for the
# service date's local hours, which the wall clock is rarely inside). The route's first
# stops open before now, so a driver reaching them is on time; later ones open through
# the afternoon; a few have already closed, which shows as outside_time_window.
FIRST_WINDOW_OPENS = timedelta(minutes=-90)
LAST_WINDOW_OPENS = timedelta(hours=4)
WINDOW_HOURS = (2, 3, 4)
CLOSED_WINDOW_CHANCE = 0.06

# The driver still on the road when the day is served (demo.live drives their open
# stops in real time); their windows are open from before the day starts, so the live
# ETAs follow the driver, not a window's opening.
LIVE_DRIVER = "driver1"
LIVE_WINDOW = (timedelta(minutes=-60), timedelta(hours=4))
# Fixes the simulated GPS keeps on each leg from one door to the next (sent at the sync).
FIXES_PER_LEG = 3

STAFF_LOGINS = ("dispatch", "support", "admin")
# Left in a demo folder so that resetting it can never wipe a folder the demo did not make.
MARKER = ".doorstep-demo"
DEFAULT_FOLDER = Path("var/demo")


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
    here: tuple[float, float] | None = None


@dataclass(frozen=True)
class GeoStamp:
    lat: float
    lon: float
    accuracy_m: float


@dataclass
class DayOutcome:
    """What the report learnt from the server's evidence bundles."""

    lost: int = 0
    # Delivered stops whose proof has a signature and a photo, every file verified,
    # captured at the door: the ones a support agent can settle a dispute with.
    disputable: list[tuple[int, str]] = field(default_factory=list)


def database_path(folder: Path) -> Path:
    """The demo day's SQLite database inside ``folder``."""
    return folder.resolve() / "doorstep.db"


def evidence_dir(folder: Path) -> Path:
    """Where the demo day's server keeps the evidence files it received."""
    return folder.resolve() / "evidence"


def _photo(rng: random.Random) -> bytes:
    # A front door with a parcel on the step, so the console shows something
    # recognisable as a doorstep photo.
    wall = (rng.randrange(150, 230), rng.randrange(140, 210), rng.randrange(120, 190))
    image = Image.new("RGB", (1600, 1200), wall)
    draw = ImageDraw.Draw(image)
    left = rng.randrange(450, 750)
    draw.rectangle((left, 200, left + 450, 1050), fill=(rng.randrange(40, 160), 60, 50))
    draw.ellipse((left + 370, 600, left + 400, 630), fill=(210, 180, 60))
    draw.rectangle((0, 1050, 1600, 1200), fill=(110, 110, 110))
    box = rng.randrange(200, 1200)
    draw.rectangle((box, 930, box + 260, 1080), fill=(176, 128, 72), outline=(90, 60, 30))
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


def _moved(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) towards ``bearing`` (radians from north)."""
    north = metres * math.cos(bearing) / METRES_PER_DEGREE_LAT
    east = metres * math.sin(bearing) / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    return lat + north, lon + east


def geo_stamp_at(stop: dict[str, Any], rng: random.Random) -> GeoStamp | None:
    """Where the phone's GPS puts the driver working ``stop``; None when it has no fix."""
    roll = rng.random()
    if roll < NO_FIX_CHANCE:
        return None
    distance = rng.uniform(
        *FAR_AWAY_M if roll < NO_FIX_CHANCE + FAR_AWAY_CHANCE else DOORSTEP_JITTER_M
    )
    lat, lon = _moved(
        stop["location"]["lat"], stop["location"]["lon"], distance, rng.uniform(0, 2 * math.pi)
    )
    return GeoStamp(round(lat, 7), round(lon, 7), round(rng.uniform(*ACCURACY_M), 1))


def _location(stamp: GeoStamp | None) -> LocationProvider:
    if stamp is None:
        return NoLocation()
    return FixedLocation(stamp.lat, stamp.lon, stamp.accuracy_m)


def leg_points(
    start: tuple[float, float], end: tuple[float, float], steps: int
) -> list[tuple[float, float]]:
    """``steps`` points from just after ``start`` to ``end`` (the last one is the door)."""
    return [
        (
            start[0] + (end[0] - start[0]) * n / steps,
            start[1] + (end[1] - start[1]) * n / steps,
        )
        for n in range(1, steps + 1)
    ]


def keep_fix(device: Device, lat: float, lon: float) -> None:
    """The simulated GPS: a fix the device's next sync sends (``positions``), stamped
    with the device's clock, as the app keeps them during the shift."""
    fix = {
        "lat": round(lat, 7),
        "lon": round(lon, 7),
        "accuracy_m": 8.0,
        "recorded_at": system_now().isoformat(),
    }
    device.store.keep_fix(fix, KEEP)


def _drive_to(driver: Driver, stop: dict[str, Any]) -> None:
    door = (stop["location"]["lat"], stop["location"]["lon"])
    if driver.here is not None:
        for lat, lon in leg_points(driver.here, door, FIXES_PER_LEG):
            keep_fix(driver.device, lat, lon)
    driver.here = door


def _work_a_stop(driver: Driver, stop: dict[str, Any], rng: random.Random) -> None:
    _drive_to(driver, stop)
    capture = driver.device.capture
    # The GPS follows the driver from stop to stop: arrival and outcome share the fix.
    capture.location = _location(geo_stamp_at(stop, rng))
    capture.arrive(stop["id"])
    if rng.random() < FAIL_CHANCE:
        reason = rng.choice(
            [
                FailureReason.RECIPIENT_ABSENT,
                FailureReason.ACCESS_DENIED,
                FailureReason.BUSINESS_CLOSED,
            ]
        )
        capture.fail(stop["id"], reason)
    else:
        evidence = [
            Evidence(_signature(rng), EvidenceKind.SIGNATURE, "image/png"),
            Evidence(_photo(rng), EvidenceKind.PHOTO, "image/jpeg"),
        ]
        barcodes = [p["barcode"] for p in stop["parcels"]]
        capture.deliver(
            stop["id"],
            stop["recipient"]["name"] or "Resident",
            barcodes,
            WhereLeft.HANDED_TO_RECIPIENT,
            evidence,
            age_verified=True,
        )
    driver.captured += 2


def _kill_mid_capture_and_restart(
    driver: Driver, stop: dict[str, Any] | None, rng: random.Random
) -> None:
    driver.device.close()
    if stop is not None:
        stamp = geo_stamp_at(stop, rng)
        # The app dies inside the capture's transaction: the files are on disk, the
        # event never commits, the driver never saw "saved" (demo.crash_worker).
        subprocess.run(  # noqa: S603 - this interpreter, our own worker
            [
                sys.executable,
                "-m",
                "demo.crash_worker",
                str(driver.data.resolve()),
                driver.online_url,
                "before_commit",
                "--stop",
                json.dumps(stop),
                "--at",
                json.dumps(asdict(stamp) if stamp else None),
            ],
            check=False,
            timeout=60,
            cwd=PROJECT_ROOT,
        )
    driver.device = Device(driver.data, driver.online_url)
    driver.kills += 1
    driver.recovered = len(driver.device.orphans)


def _on_the_quarter_hour(moment: datetime) -> datetime:
    # Customers are offered windows on the quarter hour; rounding down keeps a window
    # that opens (or closes) before now on the same side of now.
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def _window_near(now: datetime, progress: float, rng: random.Random) -> tuple[datetime, datetime]:
    """A delivery window for a stop ``progress`` (0..1) of the way along its route."""
    if rng.random() < CLOSED_WINDOW_CHANCE:
        end = _on_the_quarter_hour(now - timedelta(minutes=rng.randint(15, 60)))
        return end - timedelta(hours=2), end
    start = _on_the_quarter_hour(
        now + FIRST_WINDOW_OPENS + (LAST_WINDOW_OPENS - FIRST_WINDOW_OPENS) * progress
    )
    return start, start + timedelta(hours=rng.choice(WINDOW_HOURS))


def move_windows_around(
    database: Database,
    service_date: date,
    now: datetime,
    rng: random.Random,
    open_now: frozenset[int] = frozenset(),
) -> int:
    """Re-plan the time windows of ``service_date``'s stops around ``now``; returns how many.

    Must run before any driver syncs: the seed published every stop as version 1 and
    drivers download the Stop rows as they are at their first sync, so editing the rows
    in place (no version bump, no plan-change row) is all a fresh day needs. The stops
    of the manifests in ``open_now`` all get :data:`LIVE_WINDOW` around ``now``.
    """
    with database.session() as session:
        stops = session.scalars(
            select(Stop)
            .where(Stop.service_date == service_date)
            .order_by(Stop.manifest_id, Stop.sequence)
        ).all()
        routes: dict[int | None, list[Stop]] = defaultdict(list)
        for stop in stops:
            routes[stop.manifest_id].append(stop)
        for route in routes.values():
            for position, stop in enumerate(route):
                if stop.manifest_id in open_now:
                    opens = _on_the_quarter_hour(now + LIVE_WINDOW[0])
                    stop.window_start, stop.window_end = opens, opens + LIVE_WINDOW[1]
                else:
                    stop.window_start, stop.window_end = _window_near(
                        now, position / len(route), rng
                    )
                # The promise moves with the window: the day is re-planned before anyone
                # was told, so the seed's "planned" promise is rewritten in place too.
                stop.promised_start, stop.promised_end = stop.window_start, stop.window_end
        by_id = {stop.id: stop for stop in stops}
        for promise in session.scalars(
            select(PromiseChange).where(
                PromiseChange.stop_id.in_(select(Stop.id).where(Stop.service_date == service_date))
            )
        ):
            promise.promised_start = by_id[promise.stop_id].promised_start
            promise.promised_end = by_id[promise.stop_id].promised_end
        session.commit()
    return len(stops)


def _demo_environ() -> dict[str, str]:
    # Only the demo password is taken from the environment: the seeded users must log in
    # with the password `make demo` prints and the served console accepts.
    password = os.environ.get("DOORSTEP_DEMO_PASSWORD")
    return {"DOORSTEP_DEMO_PASSWORD": password} if password else {}


def run_day(folder: Path, seed: int = 7) -> int:
    """Simulate the day into ``folder`` (database, server evidence, devices); 0 if all is well."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    settings = load_settings(
        environ=_demo_environ(),
        database_url=f"sqlite:///{database_path(folder)}",
        storage_dir=evidence_dir(folder),
        # The day's secrets live with its data: the folder is served as it is.
        secrets_dir=folder,
    )
    migrate(settings)
    # The demo organization's today (Seattle's date), not the machine's.
    now = system_now()
    service_date = local_date(now, METRO_TIMEZONE)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            seed_demo(session, settings, service_date)
            org_id = session.scalars(
                select(Organization.id).where(Organization.slug == DEMO_SLUG)
            ).one()
            # The settings change takes the write lock at its transaction's start.
            session.rollback()
            scope_to_tenant(session, org_id)
            # The recipients see the doorstep photo on their tracking page.
            change_settings(
                session,
                org_id,
                actor="demo",
                actor_user_id=None,
                changes={"tracking_show_photo": True},
            )
        move_windows_around(
            database, service_date, now, rng, live_manifests(database, service_date)
        )
    finally:
        database.dispose()
    dead_url = f"http://127.0.0.1:{free_port()}"
    with background_server(settings) as base:
        print(f"demo server on {base}; a day for 5 drivers, {ROUNDS} rounds")
        drivers = []
        for n in range(1, 6):
            data = folder / f"driver{n}"
            device = Device(data, base)
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
                todo = [s for s in driver.device.store.stops() if s["status"] == StopStatus.PENDING]
                for stop in todo[:STOPS_PER_ROUND]:
                    try:
                        _work_a_stop(driver, stop, rng)
                    except CaptureRefused as exc:
                        print(f"  {driver.name}: not saved on stop {stop['id']}: {exc}")
                if rng.random() < KILL_CHANCE:
                    left = [
                        s for s in driver.device.store.stops() if s["status"] == StopStatus.PENDING
                    ]
                    _kill_mid_capture_and_restart(driver, left[0] if left else None, rng)
                    if offline:
                        driver.device.transport.base_url = dead_url
                with contextlib.suppress(Offline):
                    driver.device.engine.sync()
            _dispatcher_moves(base, dispatch, rng, round_no, service_date)
        for driver in drivers:
            driver.device.transport.base_url = base
            for _ in range(5):
                driver.device.engine.sync()
                if (
                    not driver.device.store.pending_count()
                    and not driver.device.store.pending_files()
                ):
                    break
        outcome = _report(drivers, base, dispatch)
        _back_office(base, dispatch, service_date, outcome)
    if outcome.lost:
        print(f"\nFAILED: {outcome.lost} captured event(s) are not on the server")
        return 1
    return 0


def live_manifests(database: Database, service_date: date) -> frozenset[int]:
    """The manifest of :data:`LIVE_DRIVER` on ``service_date`` (as a set of ids)."""
    with database.session() as session:
        return frozenset(
            session.scalars(
                select(Manifest.id)
                .join(User, User.id == Manifest.driver_id)
                .where(User.username == LIVE_DRIVER, Manifest.service_date == service_date)
            )
        )


def live_links(database_url: str, secret_key: str, service_date: date) -> list[tuple[str, str]]:
    """Tracking links (paths) of the live driver's open stops, in driving order."""
    database = Database(database_url)
    try:
        with database.session() as session:
            manifests = live_manifests(database, service_date)
            stops = session.scalars(
                select(Stop)
                .where(Stop.manifest_id.in_(manifests), Stop.status == StopStatus.PENDING)
                .where(Stop.cancelled_at.is_(None))
                .order_by(Stop.sequence, Stop.id)
            ).all()
            links = []
            for stop in stops:
                scope_to_tenant(session, stop.org_id)
                token = tokens.issue(session, stop.org_id, stop.id, secret_key, system_now())
                links.append((stop.order_number, f"/t/{token}"))
            session.commit()
            return links
    finally:
        database.dispose()


def _dispatcher_moves(
    base: str, token: str, rng: random.Random, round_no: int, service_date: date
) -> None:
    today = service_date.isoformat()
    pending = StopStatus.PENDING.value
    stops = _api(base, "GET", f"/api/v1/stops?date={today}&status={pending}&limit=1000", token)
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


def _is_disputable(bundle: dict[str, Any]) -> bool:
    proof = bundle.get("proof") or {}
    verified = {f["sha256"] for f in bundle.get("files", []) if f["verified"]}
    files = proof.get("files", [])
    return (
        bundle.get("status") == StopStatus.DELIVERED
        and {EvidenceKind.SIGNATURE, EvidenceKind.PHOTO} <= {f["kind"] for f in files}
        and all(f["sha256"] in verified for f in files)
        and (proof.get("geo_check") or {}).get("outcome") == GeoOutcome.INSIDE
        and not bundle.get("conflicts")
    )


def _report(drivers: list[Driver], base: str, token: str) -> DayOutcome:
    print(
        f"\n{'driver':<9}{'captured':>9}{'synced':>8}{'conflict':>9}{'rejected':>9}"
        f"{'pending':>8}{'files left':>11}{'offline':>8}{'kills':>6}{'recovered':>10}"
    )
    outcome = DayOutcome()
    for driver in drivers:
        store = driver.device.store
        rows = store.captured_events()
        results = [r["result"] for r in rows]
        synced = sum(r in ACKNOWLEDGED for r in results)
        print(
            f"{driver.name:<9}{len(rows):>9}{synced:>8}"
            f"{results.count(EventResultStatus.CONFLICT):>9}"
            f"{results.count(EventResultStatus.REJECTED):>9}"
            f"{results.count(None):>8}{len(store.pending_files()):>11}"
            f"{driver.offline_rounds:>8}{driver.kills:>6}{driver.recovered:>10}"
        )
        bundles: dict[int, dict[str, Any]] = {}
        for row in rows:
            stop_id = row["stop_id"]
            if stop_id not in bundles:
                bundles[stop_id] = _api(base, "GET", f"/api/v1/stops/{stop_id}/proof", token)
            bundle = bundles[stop_id]
            if row["event_id"] not in {e["id"] for e in bundle.get("events", [])}:
                outcome.lost += 1
                print(f"  LOST: {driver.name} event {row['event_id']} on stop {stop_id}")
            unverified = [f["sha256"] for f in bundle.get("files", []) if not f["verified"]]
            if unverified:
                outcome.lost += 1
                print(f"  MISSING FILES: stop {stop_id}: {unverified}")
        outcome.disputable.extend(
            (stop_id, bundle["stop"]["order_number"])
            for stop_id, bundle in bundles.items()
            if _is_disputable(bundle)
        )
        driver.device.close()
    if not outcome.lost:
        print("\nOK: every captured event is on the server, once; nothing was lost")
    return outcome


def _back_office(base: str, token: str, service_date: date, outcome: DayOutcome) -> None:
    """What awaits dispatch and support in the console, as the reconciliation API tells it."""
    path = f"/api/v1/reconciliation?date={service_date.isoformat()}"
    day = _api(base, "GET", path, token)
    queue = _api(base, "GET", f"{path}&open_only=true", token)
    statuses = Counter(stop["status"] for stop in day["stops"])
    kinds = Counter(
        exception["kind"]
        for stop in queue["stops"]
        for exception in stop["exceptions"]
        if exception["state"] == "open"
    )
    print(f"\nBack office, {service_date.isoformat()}:")
    print(
        f"  {len(day['stops'])} stops: "
        + ", ".join(f"{count} {status}" for status, count in statuses.most_common())
    )
    print(
        f"  exception queue: {queue['open_exceptions']} open exception(s) on "
        f"{len(queue['stops'])} stop(s)"
    )
    for kind, count in kinds.most_common():
        not_reached = kind == ExceptionKind.NO_OUTCOME
        why = "  (not reached today: roll them over in bulk)" if not_reached else ""
        print(f"    {kind:<24}{count:>5}{why}")
    examples = ", ".join(order for _, order in sorted(outcome.disputable)[:3])
    print(
        f"  {len(outcome.disputable)} delivered stop(s) have a complete proof "
        "(signature, photo, captured at the door)"
    )
    if examples:
        print(f"    for support to settle a dispute with, e.g. orders {examples}")


def reset_folder(folder: Path) -> None:
    """Delete a previous demo day in ``folder``; refuse a folder the demo did not make."""
    if not folder.exists():
        return
    if any(folder.iterdir()) and not (folder / MARKER).exists():
        raise SystemExit(
            f"{folder} is not empty and holds no demo day ({MARKER} missing); not deleting it"
        )
    shutil.rmtree(folder)


def _serving_banner(folder: Path, serve_at: str) -> None:
    password = os.environ.get("DOORSTEP_DEMO_PASSWORD") or "demo"
    print(f"\nThe demo day is in {folder}/; serving it now.")
    print(f"  console:  http://{serve_at}/console")
    print(f"  logins:   {' / '.join(STAFF_LOGINS)}, password '{password}'")
    print("            (dispatch clears the exception queue; support settles disputes)")
    print("  Ctrl-C to stop", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo day",
        description="Simulate a whole delivery day into a folder the console can serve.",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=DEFAULT_FOLDER,
        help="where the day is kept (replaced if it holds an earlier demo day)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the simulation")
    parser.add_argument(
        "--serve-at",
        metavar="HOST:PORT",
        help="announce the console at this address (make demo serves it next)",
    )
    args = parser.parse_args(argv)
    reset_folder(args.folder)
    started = time.monotonic()
    code = run_day(args.folder, args.seed)
    print(f"\nsimulated in {time.monotonic() - started:.0f} s", flush=True)
    if code == 0 and args.serve_at:
        _serving_banner(args.folder, args.serve_at)
    return code


if __name__ == "__main__":
    sys.exit(main())
