"""API throughput: the driver manifest (cached, cold and 304) against two floors, on
SQLite and on PostgreSQL.

Floors, measured in the same run with the same load generator:

- a bare Flask endpoint (bench/floor_app.py) under the same gunicorn command: the
  framework's floor, the most any endpoint could do on this machine;
- GET /healthz of the real app: the whole middleware stack and one ``SELECT 1``.

The manifest is measured three ways: the cached full body (one driver; the
per-process body cache answers), the cold full body (a server with the body cache
off, rotating over :data:`BENCH_DRIVERS` drivers, so every request reads and
serializes a 150-stop manifest: the first fetch of a shift), and the 304
revalidation. The cold fetch's p99 latency is reported twice: one driver at a time
(what a driver starting a shift meets; the target) and 16 at once (the server
saturated, so the figure is mostly queueing). Each endpoint runs :data:`REPEATS`
times, interleaved with the others, and the median run counts; the spread is printed
so a noisy machine shows.
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from backend.auth.tokens import Principal, TokenType, issue_token
from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.db.models import Depot, Organization, User
from backend.db.session import Database
from backend.domain.clock import system_now
from backend.domain.roles import Role
from bench.common import Row, fresh_postgres, server
from bench.load import CONNECTIONS, DURATION_S, Load, Target, measure_rotating
from demo.seed import Serials, add_driver_day, plan_driver_day, seed_demo
from demo.seed_data import CAPITOL_HILL

SERVICE_DATE = date(2026, 11, 24)
BENCH_STOPS = 150
# Drivers the cold run rotates over; each has a BENCH_STOPS-stop manifest.
BENCH_DRIVERS = 40
REPEATS = 3
FULL_TARGET = 0.25
REVALIDATE_TARGET = 0.6
COLD_P99_TARGET_MS = 200.0
FLOOR_APP = "bench.floor_app:create_app()"


@dataclass(frozen=True)
class Runs:
    """One endpoint's repeated runs; the median run is the one reported."""

    loads: list[Load]

    @property
    def median(self) -> Load:
        ordered = sorted(self.loads, key=lambda load: load.requests_per_s)
        return ordered[len(ordered) // 2]

    @property
    def rate(self) -> float:
        return self.median.requests_per_s

    def spread(self) -> str:
        rates = [load.requests_per_s for load in self.loads]
        return f"runs {min(rates):,.0f}-{max(rates):,.0f}"


def run() -> list[Row]:
    rows: list[Row] = []
    for backend in ("sqlite", "postgresql"):
        rows += _measure(backend)
    return rows


def _measure(backend: str) -> list[Row]:
    """Seed one database, start the three servers, and measure every endpoint."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="doorstep-bench-")))
        settings = stack.enter_context(_database(backend, folder))
        tokens = driver_tokens(settings, seed_bench_drivers(settings))
        bare = stack.enter_context(server(settings, app=FLOOR_APP))
        app = stack.enter_context(server(settings, app=None))
        cold = stack.enter_context(
            server(settings, app=None, env={"DOORSTEP_MANIFEST_CACHE_ENTRIES": "0"})
        )
        first = _manifest_target(app, tokens[0])
        etag = check_manifest(*first)
        rotating = [_manifest_target(cold, token) for token in tokens]
        for url, headers in rotating[:3]:
            check_manifest(url, headers)
        plans: dict[str, list[Target]] = {
            "bare": [(f"{bare}/healthz", {})],
            "healthz": [(f"{app}/healthz", {})],
            "full": [first],
            "revalidate": [(first[0], {**first[1], "If-None-Match": etag})],
            "cold": rotating,
        }
        runs: dict[str, list[Load]] = {name: [] for name in [*plans, "cold_alone"]}
        for _ in range(REPEATS):
            for name, targets in plans.items():
                runs[name].append(_checked(targets))
            # One driver at a time: the latency of a first fetch on a server that is
            # not saturated, which is what a driver starting a shift meets.
            runs["cold_alone"].append(_checked(rotating, connections=1))
    return _rows(backend, {name: Runs(loads) for name, loads in runs.items()})


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[Settings]:
    """A new, migrated database of the given kind, gone when the block ends."""
    if backend == "sqlite":
        yield _migrated(f"sqlite:///{folder / 'bench.db'}", folder)
        return
    with fresh_postgres() as url:
        yield _migrated(url, folder)


def _migrated(url: str, folder: Path) -> Settings:
    settings = load_settings(
        environ={}, database_url=url, storage_dir=folder / "evidence", secrets_dir=folder
    )
    migrate(settings)
    return settings


def seed_bench_drivers(settings: Settings) -> list[Principal]:
    """The demo, plus BENCH_DRIVERS drivers with a BENCH_STOPS-stop manifest each."""
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
            drivers = []
            for n in range(BENCH_DRIVERS):
                driver = User(
                    org_id=org_id,
                    username=f"bench-driver-{n}",
                    full_name=f"Bench Driver {n}",
                    password_hash="-",  # never logs in: the bench signs its tokens
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
                    random.Random(n),
                    Serials(100_000 + n * 1_000, 1_000_000 + n * 10_000),
                )
                add_driver_day(session, org_id, driver.id, depot_id, SERVICE_DATE, stops)
                drivers.append(
                    Principal(driver.id, org_id, Role.DRIVER, driver.username, f"bench-{n}")
                )
            session.commit()
        return drivers
    finally:
        database.dispose()


def driver_tokens(settings: Settings, drivers: list[Principal]) -> list[str]:
    # Signed here rather than logged in: forty argon2 checks would only slow the set-up.
    now = system_now()
    return [issue_token(settings, TokenType.ACCESS, d, now).token for d in drivers]


def _manifest_target(base: str, token: str) -> Target:
    return (
        f"{base}/api/v1/manifests/mine?date={SERVICE_DATE}",
        {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"},
    )


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


def _checked(targets: list[Target], connections: int = CONNECTIONS) -> Load:
    load = measure_rotating(targets, connections=connections)
    if load.bad_responses:
        raise SystemExit(
            f"bench: {targets[0][0]} answered {load.bad_responses} errors (non-2xx/3xx) "
            "under load; the numbers would measure the error path, not the API"
        )
    return load


def _rows(backend: str, runs: dict[str, Runs]) -> list[Row]:
    bare, healthz = runs["bare"], runs["healthz"]
    cold_p99 = _median_p99(runs["cold"])
    alone_p99 = _median_p99(runs["cold_alone"])
    return [
        Row(
            f"[{backend}] bare Flask endpoint (framework floor)",
            bare.rate,
            "req/s",
            note=f"{bare.median.tool}, {CONNECTIONS} connections, {REPEATS}x{DURATION_S} s, "
            + bare.spread(),
        ),
        Row(
            f"[{backend}] GET /healthz (app floor: whole stack + SELECT 1)",
            healthz.rate,
            "req/s",
            bare.rate,
            note=healthz.spread(),
        ),
        _ratio_row(
            f"[{backend}] manifest, cached body ({BENCH_STOPS} stops, gzip)",
            runs["full"],
            healthz,
            bare,
            FULL_TARGET,
        ),
        _ratio_row(
            f"[{backend}] manifest, cold ({BENCH_DRIVERS} drivers, no body cache)",
            runs["cold"],
            healthz,
            bare,
            None,
        ),
        Row(
            f"[{backend}] manifest, cold, one driver at a time: p99",
            alone_p99,
            "ms",
            target=f"< {COLD_P99_TARGET_MS:.0f} ms",
            ok=alone_p99 < COLD_P99_TARGET_MS,
            note=f"{runs['cold_alone'].rate:,.0f} req/s from one client",
        ),
        Row(
            f"[{backend}] manifest, cold, {CONNECTIONS} at once: p99",
            cold_p99,
            "ms",
            note=f"saturated: {CONNECTIONS} clients queue on 2 workers",
        ),
        _ratio_row(
            f"[{backend}] manifest, 304 revalidation (If-None-Match)",
            runs["revalidate"],
            healthz,
            bare,
            REVALIDATE_TARGET,
        ),
    ]


def _median_p99(runs: Runs) -> float:
    return statistics.median(load.p99_ms for load in runs.loads if load.p99_ms is not None)


def _ratio_row(name: str, runs: Runs, healthz: Runs, bare: Runs, target: float | None) -> Row:
    """Ratio to /healthz (the target's floor), with the ratio to bare Flask in the note."""
    ratio = runs.rate / healthz.rate
    return Row(
        name,
        runs.rate,
        "req/s",
        healthz.rate,
        f">= {target}" if target is not None else "",
        None if target is None else ratio >= target,
        note=f"{runs.rate / bare.rate:.2f} of bare Flask, {runs.spread()}"
        + (f", {runs.median.socket_errors} socket errors" if runs.median.socket_errors else ""),
    )
