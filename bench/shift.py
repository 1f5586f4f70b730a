"""End of shift at scale: every driver of a tenant syncs a whole day at the same moment.

The production serving recipe (gunicorn with backend/gunicorn_conf.py, DOORSTEP_ENV=
production) runs against a fresh PostgreSQL database per scenario. Each simulated driver
holds 150 stops and sends one end-of-shift batch of 150 delivered events, each with a
geo-stamp and two file references (the driver app sends up to 500 events a request, so
a day is one batch), with the cursor its morning snapshot left it. The files are never
uploaded: at the end of a shift most are still pending, which is the expensive case.

All drivers fire at once, from one thread each, with gzip bodies prepared before the
clock starts. Afterwards the database must hold every event exactly once. The floor is a
SQLAlchemy Core bulk insert of the same rows (events, file links, files), one
transaction per driver's batch, into the same database in the same run.

Scenarios: N drivers of one tenant, then N drivers spread over 20 tenants, for each N
in ``DOORSTEP_BENCH_SHIFT_DRIVERS`` (default ``50,200,500``; use a small N to iterate).
``DOORSTEP_BENCH_SHIFT_WORKERS`` sets gunicorn's workers (default 4), and
``DOORSTEP_BENCH_PG_ADMIN_URL`` the server that databases are created on (default as the
tests: postgres@127.0.0.1:5432). While the burst runs, ``pg_stat_activity`` is sampled
every 200 ms; the report names what the server's sessions were waiting on.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, insert, select

from backend.auth.tokens import Principal, TokenType, issue_token
from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.db.models import (
    DoorEventRow,
    Manifest,
    Organization,
    Parcel,
    PlanChange,
    Stop,
    User,
)
from backend.db.session import Database
from backend.domain.clock import local_date, system_now
from backend.domain.roles import Role
from bench.common import (
    Row,
    delivered_events,
    fresh_postgres,
    insert_events_core,
    production_env,
    server,
)

STOPS = 150
TENANTS_SPREAD = 20
# The driver app's own patience is 20 s; a request still running past this is counted.
SLOW_REQUEST_S = 30.0
# Generous, so a slow burst is measured rather than cut short; it never resends.
CLIENT_TIMEOUT_S = 900.0
SAMPLE_EVERY_S = 0.2
ONE_TENANT_RATIO_TARGET = 0.3
FLAT_TARGET = 0.8
ELAPSED_TARGET_S = 60.0


def _sizes() -> list[int]:
    raw = os.environ.get("DOORSTEP_BENCH_SHIFT_DRIVERS", "50,200,500")
    return [int(n) for n in raw.split(",") if n.strip()]


def _workers() -> int:
    return int(os.environ.get("DOORSTEP_BENCH_SHIFT_WORKERS", "4"))


@dataclass
class Driver:
    org_id: int
    user_id: int
    username: str
    stop_ids: list[int]
    cursor: int
    body: bytes = b""
    event_ids: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    error: str = ""


def _seed(database: Database, drivers: int, tenants: int, day: date) -> list[Driver]:
    """``tenants`` organizations sharing ``drivers`` drivers, each with a 150-stop day
    published to them (the feed rows their morning snapshot would have read)."""
    result: list[Driver] = []
    with database.session() as session:
        org_ids = []
        for t in range(tenants):
            org = Organization(slug=f"shift-{t}", name=f"Shift {t}", timezone="UTC")
            session.add(org)
            session.flush()
            org_ids.append(org.id)
        for n in range(drivers):
            org_id = org_ids[n % tenants]
            user = User(org_id=org_id, username=f"d{n}", password_hash="-", role=Role.DRIVER)
            session.add(user)
            session.flush()
            manifest = Manifest(org_id=org_id, driver_id=user.id, service_date=day)
            session.add(manifest)
            session.flush()
            stop_ids = list(
                session.scalars(
                    insert(Stop).returning(Stop.id, sort_by_parameter_order=True),
                    [
                        {
                            "org_id": org_id,
                            "service_date": day,
                            "order_number": f"S{n}-{i}",
                            "manifest_id": manifest.id,
                            "sequence": i + 1,
                            "address": f"{i} Main St",
                            "lat": 47.6 + i / 10_000,
                            "lon": -122.3,
                            "proof_policy": {"signature": True, "photo": True},
                        }
                        for i in range(STOPS)
                    ],
                )
            )
            session.execute(
                insert(Parcel),
                [{"org_id": org_id, "stop_id": s, "barcode": f"P{s}"} for s in stop_ids],
            )
            session.execute(
                insert(PlanChange),
                [
                    {
                        "org_id": org_id,
                        "driver_id": user.id,
                        "stop_id": s,
                        "kind": "upsert",
                        "stop_version": 1,
                    }
                    for s in stop_ids
                ],
            )
            cursor = session.scalar(
                select(func.max(PlanChange.seq)).where(PlanChange.driver_id == user.id)
            )
            result.append(Driver(org_id, user.id, user.username, stop_ids, int(cursor or 0)))
        session.commit()
    return result


def events_for(device: str, stop_ids: list[int], end_of_shift: datetime) -> list[dict[str, Any]]:
    """One delivery per stop, a minute apart, ending just before ``end_of_shift``."""
    start_ms = int((end_of_shift - timedelta(minutes=len(stop_ids) + 1)).timestamp() * 1000)
    return delivered_events(device, stop_ids, start_ms)


def _prepare(drivers: list[Driver], settings: Settings, now: datetime) -> dict[int, str]:
    """Each driver's gzip body and event ids, and an access token per driver."""
    tokens = {}
    for driver in drivers:
        device = f"dev-{driver.username}"
        principal = Principal(driver.user_id, driver.org_id, Role.DRIVER, driver.username, device)
        tokens[driver.user_id] = issue_token(settings, TokenType.ACCESS, principal, now).token
        events = events_for(device, driver.stop_ids, now)
        driver.event_ids = [e["id"] for e in events]
        driver.body = gzip.compress(
            json.dumps(
                {
                    "device_id": device,
                    "cursor": str(driver.cursor),
                    "sent_at": now.isoformat().replace("+00:00", "Z"),
                    "outbox_drained": True,
                    "events": events,
                }
            ).encode()
        )
    return tokens


def _send(port: int, driver: Driver, token: str, start: threading.Event) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    start.wait()
    began = time.perf_counter()
    try:
        connection.request("POST", "/api/v1/sync", body=driver.body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        driver.latency_s = time.perf_counter() - began
        if response.status != 200:
            driver.error = f"HTTP {response.status}: {answer[:200]!r}"
            return
        results = json.loads(answer)["results"]
        statuses = Counter(r["status"] for r in results)
        if statuses != Counter({"applied": STOPS}):
            driver.error = f"results {dict(statuses)}"
    except (OSError, http.client.HTTPException) as exc:
        driver.latency_s = time.perf_counter() - began
        driver.error = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()


class _WaitSampler:
    """Samples what the database's active sessions are doing, while a burst runs."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url.replace("postgresql+psycopg://", "postgresql://")
        self.name = database_url.rsplit("/", 1)[1]
        self.waits: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_EVERY_S):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') "
                    "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND pid <> pg_backend_pid()",
                    (self.name,),
                ).fetchall()
                self.samples += 1
                self.waits.update(row[0] for row in rows)

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        top = ", ".join(
            f"{what} {count / self.samples:.1f}" for what, count in self.waits.most_common(3)
        )
        return f"active sessions by wait: {top}"


def _verify(database: Database, drivers: list[Driver]) -> None:
    """Every event sent is stored exactly once, and nothing else is."""
    sent = [event_id for d in drivers for event_id in d.event_ids]
    org_ids = sorted({d.org_id for d in drivers})
    with database.engine.connect() as conn:
        stored = list(
            conn.scalars(select(DoorEventRow.event_id).where(DoorEventRow.org_id.in_(org_ids)))
        )
    counts = Counter(stored)
    doubled = sum(1 for n in counts.values() if n > 1)
    missing = len(set(sent) - set(counts))
    extra = len(set(counts) - set(sent))
    if doubled or missing or extra or len(stored) != len(sent):
        raise SystemExit(
            f"bench: events not stored exactly once: {missing} missing, {doubled} doubled, "
            f"{extra} unexpected, {len(stored)} rows for {len(sent)} events"
        )


def _floor(database: Database, drivers: list[Driver], now: datetime) -> float:
    """Seconds for a Core bulk insert of the same rows, one transaction per batch."""
    with database.session() as session:
        org = Organization(slug="floor", name="Floor", timezone="UTC")
        session.add(org)
        session.commit()
        org_id = org.id
    spent = 0.0
    for driver in drivers:
        events = events_for(f"floor-{driver.username}", driver.stop_ids, now)
        started = time.perf_counter()
        with database.engine.begin() as conn:
            insert_events_core(conn, org_id, driver.user_id, events, now)
        spent += time.perf_counter() - started
    return spent


@dataclass(frozen=True)
class Burst:
    drivers: int
    tenants: int
    elapsed_s: float
    events_per_s: float
    p50_s: float
    p99_s: float
    slow: int
    floor_events_per_s: float
    waits: str


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def burst(drivers: int, tenants: int) -> Burst:
    """One scenario on its own database and server; see the module docstring."""
    now = system_now()
    with tempfile.TemporaryDirectory(prefix="doorstep-shift-") as folder, fresh_postgres() as url:
        env = production_env(Path(folder), url)
        settings = load_settings(environ=env)
        migrate(settings)
        database = Database(url)
        try:
            crowd = _seed(database, drivers, tenants, local_date(now, "UTC"))
            with database.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            tokens = _prepare(crowd, settings, now)
            with server(settings, workers=_workers(), env=env) as base:
                port = int(base.rsplit(":", 1)[1])
                start = threading.Event()
                threads = [
                    threading.Thread(target=_send, args=(port, d, tokens[d.user_id], start))
                    for d in crowd
                ]
                for thread in threads:
                    thread.start()
                with _WaitSampler(url) as sampler:
                    began = time.perf_counter()
                    start.set()
                    for thread in threads:
                        thread.join()
                    elapsed = time.perf_counter() - began
            failed = [d for d in crowd if d.error]
            if failed:
                raise SystemExit(
                    f"bench: {len(failed)} of {drivers} syncs failed, e.g. {failed[0].error}"
                )
            _verify(database, crowd)
            floor_s = _floor(database, crowd, now)
        finally:
            database.dispose()
    latencies = [d.latency_s for d in crowd]
    events = drivers * STOPS
    return Burst(
        drivers=drivers,
        tenants=tenants,
        elapsed_s=elapsed,
        events_per_s=events / elapsed,
        p50_s=statistics.median(latencies),
        p99_s=_percentile(latencies, 0.99),
        slow=sum(1 for s in latencies if s > SLOW_REQUEST_S),
        floor_events_per_s=events / floor_s,
        waits=sampler.summary(),
    )


def _rows(result: Burst) -> list[Row]:
    who = f"{result.drivers} drivers, " + (
        "one tenant" if result.tenants == 1 else f"{result.tenants} tenants"
    )
    one_tenant = result.tenants == 1
    return [
        Row(
            f"{who}: elapsed",
            result.elapsed_s,
            "s",
            target=f"< {ELAPSED_TARGET_S:.0f}" if one_tenant else "",
            ok=result.elapsed_s < ELAPSED_TARGET_S if one_tenant else None,
        ),
        Row(
            f"{who}: events/s (floor: Core bulk insert)",
            result.events_per_s,
            "events/s",
            result.floor_events_per_s,
            f">= {ONE_TENANT_RATIO_TARGET}" if one_tenant else "",
            result.events_per_s / result.floor_events_per_s >= ONE_TENANT_RATIO_TARGET
            if one_tenant
            else None,
            note=f"floor {result.floor_events_per_s:,.0f} events/s",
        ),
        Row(f"{who}: p50 per driver", result.p50_s, "s"),
        Row(
            f"{who}: p99 per driver",
            result.p99_s,
            "s",
            note=f"{result.slow} over {SLOW_REQUEST_S:.0f} s; {result.waits}",
            ok=result.slow == 0,
        ),
    ]


def run() -> list[Row]:
    rows: list[Row] = []
    one_tenant: list[Burst] = []
    for drivers in _sizes():
        for tenants in (1, TENANTS_SPREAD):
            result = burst(drivers, min(tenants, drivers))
            rows.extend(_rows(result))
            if tenants == 1:
                one_tenant.append(result)
    if len(one_tenant) > 1:
        smallest, largest = one_tenant[0], one_tenant[-1]
        rows.append(
            Row(
                f"events/s at {largest.drivers} drivers against {smallest.drivers}, one tenant",
                largest.events_per_s,
                "events/s",
                smallest.events_per_s,
                f">= {FLAT_TARGET}",
                largest.events_per_s / smallest.events_per_s >= FLAT_TARGET,
            )
        )
    return rows
