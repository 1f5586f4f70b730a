"""API throughput: the driver manifest, full body and 304, against /healthz.

All three run against the same gunicorn (2 workers) on a seeded temporary SQLite
database, with the same load generator, one after the other. /healthz does one
``SELECT 1``, so it is the framework's floor: the ratios say what the manifest costs on
top of serving any request at all, whatever the machine.

The demo's drivers have 120 to 160 stops each, so the section adds one more driver,
``bench-driver``, whose manifest has exactly :data:`BENCH_STOPS` stops (Capitol Hill).
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

from sqlalchemy import select

from backend.config import Settings
from backend.db.models import Depot, Organization, User
from backend.db.session import Database
from backend.domain.roles import Role
from bench.common import Row, fresh_settings, login, server
from bench.load import CONNECTIONS, DURATION_S, Load, measure
from demo.seed import Serials, add_driver_day, plan_driver_day, seed_demo
from demo.seed_data import CAPITOL_HILL

SERVICE_DATE = date(2026, 11, 24)
BENCH_DRIVER = "bench-driver"
BENCH_STOPS = 150
FULL_TARGET = 0.25
REVALIDATE_TARGET = 0.6


def run() -> list[Row]:
    """Seed, serve, measure the floor and both manifest paths; one row each."""
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as folder:
        settings = fresh_settings(Path(folder))
        seed_with_bench_driver(settings)
        with server(settings) as base:
            token = login(base, BENCH_DRIVER, settings.demo_password, "bench")
            url = f"{base}/api/v1/manifests/mine?date={SERVICE_DATE}"
            headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
            etag = check_manifest(url, headers)
            floor = _checked(f"{base}/healthz", {})
            full = _checked(url, headers)
            revalidate = _checked(url, {**headers, "If-None-Match": etag})
    return [
        Row(
            "GET /healthz (floor: one SELECT 1)",
            floor.requests_per_s,
            "req/s",
            note=f"{floor.tool}, {CONNECTIONS} connections, {DURATION_S} s per run"
            + (f", {_note(floor)}" if floor.socket_errors else ""),
        ),
        _ratio_row(
            f"GET /manifests/mine, full body ({BENCH_STOPS} stops, gzip)", full, floor, FULL_TARGET
        ),
        _ratio_row(
            "GET /manifests/mine, 304 revalidation (If-None-Match)",
            revalidate,
            floor,
            REVALIDATE_TARGET,
        ),
    ]


def seed_with_bench_driver(settings: Settings) -> None:
    """The demo, plus ``bench-driver`` with a manifest of exactly BENCH_STOPS stops."""
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            seed_demo(session, settings, SERVICE_DATE)
            org_id = session.scalars(
                select(Organization.id).where(Organization.slug == "demo")
            ).one()
            depot_id = session.scalars(
                select(Depot.id).where(Depot.name == CAPITOL_HILL.depot.name)
            ).one()
            # Same password as every demo user: reuse the hash instead of paying argon2 again.
            password_hash = session.scalars(
                select(User.password_hash).where(User.username == "driver1")
            ).one()
            driver = User(
                org_id=org_id,
                username=BENCH_DRIVER,
                full_name="Bench Driver",
                password_hash=password_hash,
                role=Role.DRIVER,
                depot_id=depot_id,
            )
            session.add(driver)
            session.flush()
            # Serials far above the demo's, so order numbers and barcodes stay unique.
            stops = plan_driver_day(
                CAPITOL_HILL,
                SERVICE_DATE,
                BENCH_STOPS,
                random.Random(BENCH_STOPS),
                Serials(90_000, 900_000),
            )
            add_driver_day(session, org_id, driver.id, depot_id, SERVICE_DATE, stops)
            session.commit()
    finally:
        database.dispose()


def check_manifest(url: str, headers: dict[str, str]) -> str:
    """One request of each kind by hand: the load runs must measure the right answers.

    Returns the ETag. Exits if the full body is not gzip with BENCH_STOPS stops, or the
    revalidation does not answer 304.
    """
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.headers.get("Content-Encoding") != "gzip":
            raise SystemExit("bench: the manifest was not gzip-encoded")
        etag: str = response.headers["ETag"]
        stops = json.loads(gzip.decompress(response.read()))["stops"]
    if len(stops) != BENCH_STOPS:
        raise SystemExit(f"bench: the manifest has {len(stops)} stops, not {BENCH_STOPS}")
    revalidation = urllib.request.Request(url, headers={**headers, "If-None-Match": etag})
    try:
        with urllib.request.urlopen(revalidation, timeout=30) as response:
            raise SystemExit(f"bench: revalidation answered {response.status}, not 304")
    except urllib.error.HTTPError as exc:
        # urllib treats every 3xx it does not follow as an error.
        if exc.code != 304:
            raise SystemExit(f"bench: revalidation answered {exc.code}, not 304") from None
    return etag


def _checked(url: str, headers: dict[str, str]) -> Load:
    load = measure(url, headers)
    if load.bad_responses:
        raise SystemExit(
            f"bench: {url} answered {load.bad_responses} errors (non-2xx/3xx) under load; "
            "the numbers would measure the error path, not the API"
        )
    return load


def _ratio_row(name: str, load: Load, floor: Load, target: float) -> Row:
    ratio = load.requests_per_s / floor.requests_per_s
    return Row(
        name,
        load.requests_per_s,
        "req/s",
        floor.requests_per_s,
        f">= {target}",
        ratio >= target,
        note=_note(load),
    )


def _note(load: Load) -> str:
    return f"{load.socket_errors} socket errors" if load.socket_errors else ""
