"""Many drivers of one tenant sync at once while back office imports stops for them.

Syncs no longer take a tenant-wide lock, so this is where a cursor could skip: an
import allocates feed positions for every driver early in a long transaction, while
each driver's own syncs commit rows after it. Every device follows its cursor through
the whole burst and must end up holding every stop imported for it, with every event
it sent stored exactly once. Runs on both databases (PostgreSQL is where transactions
really interleave; SQLite serialises writers and must keep the same guarantees).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, Organization, Stop
from tests.conftest import World
from tests.factories import make_manifest, make_user
from tests.sync.helpers import Device, png, ref

DRIVERS = 10
STOPS_PER_DRIVER = 3
IMPORTS = 4


class Follower:
    """A device that keeps the stops the feed tells it about, as the driver app does."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.held: dict[int, int] = {}
        self.sent: list[str] = []
        self.answers: list[str] = []
        self.problems: list[str] = []

    def sync(self, events: list[dict[str, Any]] | None = None) -> bool:
        before = self.device.cursor
        response = self.device.sync(events)
        if response.status_code != 200:
            self.problems.append(f"{response.status_code}: {response.get_json()}")
            return False
        body = response.get_json()
        if body["snapshot"]:
            self.held = {}
        for change in body["changes"]:
            if change["op"] == "upsert":
                self.held[change["stop_id"]] = change["stop"]["version"]
            else:
                self.held.pop(change["stop_id"], None)
        if before is not None and int(body["cursor"]) < int(before):
            self.problems.append(f"cursor went back from {before} to {body['cursor']}")
        self.sent.extend(e["id"] for e in events or [])
        self.answers.extend(r["status"] for r in body["results"])
        return bool(body["has_more"])

    def catch_up(self) -> None:
        while self.sync():
            pass


def _import(client: Any, headers: dict[str, str], round_: int, drivers: list[str]) -> Any:
    return client.post(
        "/api/v1/stops/import",
        json={
            "service_date": "2026-11-24",
            "stops": [
                {
                    "order_number": f"LATE-{round_}-{name}",
                    "address": f"{round_} Late St",
                    "lat": 47.6,
                    "lon": -122.3,
                    "parcels": [{"barcode": f"L{round_}{name}", "description": "Box"}],
                    "driver": name,
                }
                for name in drivers
            ],
        },
        headers=headers,
    )


def test_a_crowd_of_one_tenant_syncing_at_once_never_skips_a_change(
    app: Flask, session: Session, world: World, token_for: Callable[[str], str]
) -> None:
    org = session.get(Organization, world.org_id)
    assert org is not None
    names = [f"crowd_{n:02d}" for n in range(DRIVERS)]
    own_stops: dict[str, list[int]] = {}
    for name in names:
        driver = make_user(session, org, name, "driver")
        manifest = make_manifest(session, org.id, driver.id, stops=STOPS_PER_DRIVER)
        own_stops[name] = list(
            session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id))
        )
    session.commit()
    followers = {
        name: Follower(
            Device(
                app.test_client(),
                f"dev-{name}",
                {"Authorization": f"Bearer {token_for(name)}"},
            )
        )
        for name in names
    }
    for follower in followers.values():
        follower.catch_up()
    dispatcher = {"Authorization": f"Bearer {token_for('dispatcher')}"}
    imported: list[Any] = []
    dispatch_done = threading.Event()
    start = threading.Barrier(DRIVERS + 1)

    def dispatch() -> None:
        client = app.test_client()
        start.wait()
        try:
            for round_ in range(IMPORTS):
                imported.append(_import(client, dispatcher, round_, names))
        finally:
            dispatch_done.set()

    def drive(name: str) -> None:
        follower = followers[name]
        device = follower.device
        start.wait()
        for stop_id in own_stops[name]:
            label = f"{name}-{stop_id}"
            follower.sync([device.event(stop_id, evidence=[ref(png(label))])])
        # Keep following the feed while back office is still importing.
        while not dispatch_done.is_set():
            follower.sync()

    threads = [threading.Thread(target=dispatch)] + [
        threading.Thread(target=drive, args=(name,)) for name in names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in imported] == [201] * IMPORTS
    late = {
        (stop["driver"], stop["id"])
        for response in imported
        for stop in response.get_json()["stops"]
    }
    for name, follower in followers.items():
        follower.catch_up()
        assert follower.problems == []
        expected = {stop_id for driver, stop_id in late if driver == name} | set(own_stops[name])
        assert set(follower.held) == expected, f"{name} missed a change its cursor passed"
        assert len(follower.sent) == STOPS_PER_DRIVER
        assert set(follower.answers) <= {"applied", "conflict"}
    stored = session.execute(
        select(DoorEventRow.event_id, func.count())
        .where(DoorEventRow.org_id == org.id)
        .group_by(DoorEventRow.event_id)
    ).all()
    sent = {event_id for f in followers.values() for event_id in f.sent}
    assert {event_id for event_id, _ in stored} == sent
    assert all(count == 1 for _, count in stored)
