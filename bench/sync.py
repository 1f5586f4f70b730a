"""Sync ingest: end-of-shift batches against a plain bulk insert of the same rows.

A batch is what a driver's device sends after a shift offline: 150 delivered events,
each with a geo-stamp and two file references (signature and photo). The floor is a
SQLAlchemy Core bulk insert of the same event and file rows into the same database,
which is the least any ingest must do. The growth check measures ingest cost per event
with 10 thousand and then 1 million events already stored.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert, select

from backend.app import create_app
from backend.auth.passwords import hash_password
from backend.auth.tokens import Principal, TokenType, issue_token
from backend.config import Settings
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
from backend.domain.roles import Role
from bench.common import Row, delivered_events, fresh_settings, insert_events_core

DAY = date(2026, 11, 24)
STOPS = 150
MAIN_BATCHES = 5
GROWTH_BATCHES = 3
GROWTH_SIZES = (10_000, 1_000_000)


def _world(database: Database, drivers: int) -> tuple[int, list[tuple[int, str, list[int]]]]:
    """An organization with ``drivers`` drivers, each holding 150 stops for DAY."""
    with database.session() as session:
        org = Organization(slug="bench", name="Bench", timezone="UTC")
        session.add(org)
        session.flush()
        pw = hash_password("bench")
        result = []
        for n in range(drivers):
            user = User(org_id=org.id, username=f"d{n}", password_hash=pw, role=Role.DRIVER)
            session.add(user)
            session.flush()
            manifest = Manifest(org_id=org.id, driver_id=user.id, service_date=DAY)
            session.add(manifest)
            session.flush()
            rows = [
                {
                    "org_id": org.id,
                    "service_date": DAY,
                    "order_number": f"B{n}-{i}",
                    "manifest_id": manifest.id,
                    "sequence": i + 1,
                    "address": f"{i} Main St",
                    "lat": 47.6 + i / 10_000,
                    "lon": -122.3,
                    "proof_policy": {"signature": True},
                    "window_start": datetime.combine(DAY, clock_time(9), UTC),
                    "window_end": datetime.combine(DAY, clock_time(17), UTC),
                }
                for i in range(STOPS)
            ]
            stop_ids = list(session.scalars(insert(Stop).returning(Stop.id), rows))
            session.execute(
                insert(Parcel),
                [{"org_id": org.id, "stop_id": s, "barcode": f"P{s}"} for s in stop_ids],
            )
            session.execute(
                insert(PlanChange),
                [
                    {
                        "org_id": org.id,
                        "driver_id": user.id,
                        "stop_id": s,
                        "kind": "upsert",
                        "stop_version": 1,
                    }
                    for s in stop_ids
                ],
            )
            result.append((user.id, user.username, stop_ids))
        session.commit()
        return org.id, result


def _batch(device: str, stop_ids: list[int]) -> list[dict[str, Any]]:
    base_ms = int(datetime.combine(DAY, clock_time(17), UTC).timestamp() * 1000)
    return delivered_events(device, stop_ids, base_ms)


def _ingest(
    client: FlaskClient, settings: Settings, org_id: int, driver: tuple[int, str, list[int]]
) -> tuple[float, int]:
    user_id, username, stop_ids = driver
    device = f"dev-{username}"
    token = issue_token(
        settings, TokenType.ACCESS, Principal(user_id, org_id, Role.DRIVER, username, device)
    ).token
    # The shift starts with a snapshot (not timed); the end-of-shift batch then carries
    # the cursor the device kept, as a real device's would.
    start = client.post(
        "/api/v1/sync",
        json={"device_id": device, "cursor": None, "events": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    cursor = start.get_json()["cursor"]
    body = gzip.compress(
        json.dumps(
            {"device_id": device, "cursor": cursor, "events": _batch(device, stop_ids)}
        ).encode()
    )
    started = time.perf_counter()
    response = client.post(
        "/api/v1/sync",
        data=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    elapsed = time.perf_counter() - started
    results = response.get_json()["results"]
    if response.status_code != 200 or any(r["status"] != "applied" for r in results):
        raise SystemExit(f"bench: the sync batch was not applied: {response.get_json()}")
    return elapsed, len(body)


def _floor(database: Database, org_id: int, driver: tuple[int, str, list[int]]) -> float:
    """A Core bulk insert of the same event, link and file rows, in one transaction."""
    user_id, username, stop_ids = driver
    events = _batch(f"floor-{username}", stop_ids)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with database.engine.begin() as conn:
        insert_events_core(conn, org_id, user_id, events, now)
    return time.perf_counter() - started


def _prefill(database: Database, org_id: int, stop_id: int, driver_id: int, total: int) -> None:
    """Grow door_event to ``total`` rows of history on one old stop."""
    with database.engine.connect() as conn:
        have = conn.scalar(select(DoorEventRow.id).order_by(DoorEventRow.id.desc()).limit(1)) or 0
    now = datetime.now(UTC)
    chunk = 20_000
    with database.engine.begin() as conn:
        for start in range(have, total, chunk):
            conn.execute(
                insert(DoorEventRow),
                [
                    {
                        "org_id": org_id,
                        "event_id": str(uuid.UUID(int=n + 1)),
                        "stop_id": stop_id,
                        "driver_id": driver_id,
                        "device_key": "history",
                        "type": "note",
                        "recorded_at": now,
                        "received_at": now,
                        "hlc": f"{n:015d}-000000-h",
                        "base_version": 1,
                        "payload": {"text": "history"},
                        "evidence": [],
                        "fingerprint": "0" * 64,
                        "result": "applied",
                        "result_code": "",
                    }
                    for n in range(start, min(start + chunk, total))
                ],
            )


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        settings = fresh_settings(Path(folder))
        database = Database(settings.database_url)
        drivers_needed = 2 * MAIN_BATCHES + GROWTH_BATCHES * len(GROWTH_SIZES) + 1
        org_id, drivers = _world(database, drivers_needed)
        client = create_app(settings, database).test_client()
        ingest_s = 0.0
        request_bytes = 0
        floor_s = 0.0
        for n in range(MAIN_BATCHES):
            elapsed, size = _ingest(client, settings, org_id, drivers[n])
            ingest_s += elapsed
            request_bytes += size
            floor_s += _floor(database, org_id, drivers[MAIN_BATCHES + n])
        events = MAIN_BATCHES * STOPS
        rate, floor_rate = events / ingest_s, events / floor_s
        growth = []
        history_driver = drivers[-1]
        next_driver = 2 * MAIN_BATCHES
        for size in GROWTH_SIZES:
            _prefill(database, org_id, history_driver[2][0], history_driver[0], size)
            spent = 0.0
            for _ in range(GROWTH_BATCHES):
                spent += _ingest(client, settings, org_id, drivers[next_driver])[0]
                next_driver += 1
            growth.append(spent / (GROWTH_BATCHES * STOPS) * 1e6)
        database.dispose()
    return [
        Row("Core bulk insert of the same rows (floor)", floor_rate, "events/s"),
        Row(
            "POST /sync, 150 delivered events + 2 files each",
            rate,
            "events/s",
            floor_rate,
            ">= 0.3",
            rate / floor_rate >= 0.3,
        ),
        Row(
            "request bytes per delivered event (gzip)",
            request_bytes / events,
            "bytes",
            target="< 600",
            ok=request_bytes / events < 600,
        ),
        Row(f"ingest cost per event, {GROWTH_SIZES[0]:,} events stored", growth[0], "us"),
        Row(
            f"ingest cost per event, {GROWTH_SIZES[1]:,} events stored",
            growth[1],
            "us",
            growth[0],
            "<= 1.5",
            growth[1] / growth[0] <= 1.5,
        ),
    ]
