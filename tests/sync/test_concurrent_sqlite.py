"""A shift change on the embedded SQLite default: every driver syncs at the same moment.

The in-process tests send one request at a time and cannot see lock contention, so this
one runs the real server (gunicorn, as `make run` starts it) on a SQLite file and fires
every driver's sync at once from its own thread. Each must be applied, exactly once:
a sync transaction that read before taking the write lock starts deferred, and SQLite
then refuses to upgrade it while another writer commits (503 database_unavailable).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from backend.config import PROJECT_ROOT, load_settings
from backend.db.models import DoorEventRow, Stop
from backend.db.session import Database
from backend.domain.clock import local_date, system_now
from backend.domain.hlc import HybridLogicalClock
from demo.devserver import background_server
from tests.factories import make_manifest, make_org, make_user
from tests.sync.helpers import default_payload

DRIVERS = 16
STOPS_PER_DRIVER = 3
ORG_TIMEZONE = "America/Los_Angeles"
# Generous: 16 writers queue on one lock; a request that waits this long has failed anyway.
REQUEST_TIMEOUT_S = 60


def _migrated_sqlite_file(folder: Path) -> str:
    url = f"sqlite:///{folder / 'shift-change.db'}"
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["url"] = url
    command.upgrade(config, "head")
    return url


def _arrange_drivers(database: Database) -> dict[str, list[int]]:
    """DRIVERS drivers with a manifest for the organization's real today: stop ids by name.

    The server runs on the machine's clock, not the tests' pinned one, so "today" here
    is the real date where the organization works.
    """
    with database.session() as session:
        org = make_org(session, "rush", timezone=ORG_TIMEZONE)
        today = local_date(system_now(), ORG_TIMEZONE)
        stops: dict[str, list[int]] = {}
        for n in range(DRIVERS):
            name = f"driver_{n:02d}"
            driver = make_user(session, org, name, "driver")
            manifest = make_manifest(
                session, org.id, driver.id, stops=STOPS_PER_DRIVER, service_date=today
            )
            stops[name] = list(
                session.scalars(
                    select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
                )
            )
        session.commit()
    return stops


def _delivered_events(device_id: str, stop_ids: list[int]) -> list[dict[str, Any]]:
    """One delivery per stop, recorded a few minutes ago on the device's own clock."""
    start = system_now() - timedelta(minutes=len(stop_ids) + 1)
    events = []
    for minute, stop_id in enumerate(stop_ids):
        recorded_at = start + timedelta(minutes=minute)
        hlc = HybridLogicalClock(device_id, lambda at=recorded_at: int(at.timestamp() * 1000))
        events.append(
            {
                "id": str(uuid.uuid4()),
                "stop_id": stop_id,
                "type": "delivered",
                "recorded_at": recorded_at.isoformat(),
                "hlc": str(hlc.tick()),
                "base_version": 1,
                "payload": default_payload("delivered"),
                "evidence": [],
            }
        )
    return events


def _log_in(base: str, username: str, device_id: str) -> str:
    response = requests.post(
        f"{base}/api/v1/auth/token",
        json={"username": username, "password": "pw", "device_id": device_id},
        timeout=REQUEST_TIMEOUT_S,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_every_driver_syncing_at_the_same_moment_is_applied_exactly_once(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        environ={},
        database_url=_migrated_sqlite_file(tmp_path),
        storage_dir=tmp_path / "evidence",
    )
    database = Database(settings.database_url)
    stops = _arrange_drivers(database)
    batches = {name: _delivered_events(f"dev-{name}", stop_ids) for name, stop_ids in stops.items()}
    all_at_once = threading.Barrier(DRIVERS)

    with background_server(settings) as base:
        tokens = {name: _log_in(base, name, f"dev-{name}") for name in stops}

        def sync(name: str) -> requests.Response:
            body = {"device_id": f"dev-{name}", "cursor": None, "events": batches[name]}
            headers = {"Authorization": f"Bearer {tokens[name]}"}
            all_at_once.wait(timeout=REQUEST_TIMEOUT_S)
            return requests.post(
                f"{base}/api/v1/sync", json=body, headers=headers, timeout=REQUEST_TIMEOUT_S
            )

        with ThreadPoolExecutor(max_workers=DRIVERS) as pool:
            responses = dict(zip(stops, pool.map(sync, stops), strict=True))

    failed = {
        name: (r.status_code, r.text[:200]) for name, r in responses.items() if r.status_code != 200
    }
    assert not failed, f"{len(failed)} of {DRIVERS} concurrent syncs failed: {failed}"
    for name, response in responses.items():
        results = response.json()["results"]
        assert [r["id"] for r in results] == [e["id"] for e in batches[name]]
        assert {r["status"] for r in results} == {"applied"}, results

    with database.session() as session:
        stored = Counter(session.scalars(select(DoorEventRow.event_id)))
    database.dispose()
    sent = [event["id"] for batch in batches.values() for event in batch]
    assert len(sent) == DRIVERS * STOPS_PER_DRIVER
    assert stored == Counter(sent), "each event is stored exactly once"
