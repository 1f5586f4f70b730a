"""A 2 MB photo over a 20 KB/s phone link (about 100 s) arrives, and nobody waits for it.

Runs the real serving setup (backend/gunicorn_conf.py through background_server, as
`make run`) on the embedded SQLite default, where a body received inside a write
transaction would stall every other writer. One thread uploads a real 2 MB JPEG that a
synced delivery references, 2 KB every 0.1 s; meanwhile logins, syncs that write and
health checks must answer quickly, and at the end the upload answers 200 and the stop
leaves evidence_pending. Marked ``slow`` (``pytest -m "not slow"`` leaves it out).

Traffic goes to 127.0.0.1 only; the server is stopped by its own pid.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from backend.config import load_settings
from backend.db.models import Stop
from backend.db.session import Database
from backend.domain.clock import local_date, system_now
from demo.devserver import background_server
from tests.factories import make_manifest, make_org, make_user
from tests.sync.helpers import noise_jpeg, ref
from tests.sync.test_concurrent_sqlite import _delivered_events, _log_in, _migrated_sqlite_file

pytestmark = pytest.mark.slow

ORG_TIMEZONE = "America/Los_Angeles"
LINK_BYTES_PER_S = 20_000
# What a phone's TCP stack hands the network at a time on a slow link.
PACKET = 2_000
# A correctness bound, not a benchmark: a request queued behind the upload would take
# the whole upload (about 100 s).
ANSWER_WITHIN_S = 2.0
# Other requests are made about this often while the upload runs.
EVERY_S = 5.0


def _arrange(database: Database) -> dict[str, list[int]]:
    """Two drivers with two stops each on the organization's real today (the server runs
    on the machine's clock): stop ids by driver."""
    with database.session() as session:
        org = make_org(session, "slowlink", timezone=ORG_TIMEZONE)
        today = local_date(system_now(), ORG_TIMEZONE)
        stops: dict[str, list[int]] = {}
        for name in ("driver_a", "driver_b"):
            driver = make_user(session, org, name, "driver")
            manifest = make_manifest(session, org.id, driver.id, stops=2, service_date=today)
            stops[name] = list(
                session.scalars(
                    select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
                )
            )
        session.commit()
    return stops


def _status(database: Database, stop_id: int) -> str:
    with database.session() as session:
        stop = session.get(Stop, stop_id)
        assert stop is not None
        return stop.status.value


def _throttled_put(base: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    """PUT ``body`` at LINK_BYTES_PER_S over a raw socket; the answer's status and JSON."""
    host, _, port = base.removeprefix("http://").partition(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request_head = (
        f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{head}\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(request_head)
        started = time.monotonic()
        for sent in range(0, len(body), PACKET):
            # Paced against the start, so sleeping late never makes the link faster.
            wait = started + sent / LINK_BYTES_PER_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sock.sendall(body[sent : sent + PACKET])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _sync(base: str, device_id: str, token: str, events: list[Any]) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/sync",
        json={"device_id": device_id, "cursor": None, "events": events},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _timed(call: Callable[[], requests.Response]) -> float:
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text[:300]
    return elapsed


def test_a_2_mb_photo_over_a_20_kb_per_s_link_arrives_while_others_are_served(
    tmp_path: Path,
) -> None:
    photo = noise_jpeg(1600, 1100)
    assert len(photo) > 2_000_000
    settings = load_settings(
        environ={}, database_url=_migrated_sqlite_file(tmp_path), storage_dir=tmp_path / "ev"
    )
    database = Database(settings.database_url)
    stops = _arrange(database)
    delivery = _delivered_events("dev-driver_a", stops["driver_a"][:1])
    delivery[0]["evidence"] = [ref(photo, "photo", "image/jpeg")]
    others = _delivered_events("dev-driver_b", stops["driver_b"])

    with background_server(settings) as base:
        token = _log_in(base, "driver_a", "dev-driver_a")
        synced = _sync(base, "dev-driver_a", token, delivery)
        assert synced.status_code == 200, synced.text
        (upload,) = synced.json()["uploads"]
        assert _status(database, stops["driver_a"][0]) == "evidence_pending"

        answer: list[tuple[int, Any]] = []
        started = time.monotonic()
        uploader = threading.Thread(
            target=lambda: answer.append(
                _throttled_put(
                    base,
                    upload["url"].removeprefix(base),
                    {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
                    photo,
                )
            )
        )
        uploader.start()

        latencies: dict[str, list[float]] = {"healthz": [], "login": [], "sync": []}
        while uploader.is_alive():
            latencies["healthz"].append(_timed(lambda: requests.get(f"{base}/healthz", timeout=30)))
            login_started = time.monotonic()
            token_b = _log_in(base, "driver_b", "dev-driver_b")
            latencies["login"].append(time.monotonic() - login_started)
            # A sync that writes: driver_b's deliveries (sent again: answered duplicate).
            latencies["sync"].append(_timed(partial(_sync, base, "dev-driver_b", token_b, others)))
            uploader.join(timeout=EVERY_S)
        elapsed = time.monotonic() - started

    status = _status(database, stops["driver_a"][0])
    database.dispose()
    slowest = {name: round(max(values), 3) for name, values in latencies.items()}
    print(f"\n2 MB upload: {len(photo)} bytes in {elapsed:.1f} s; slowest others: {slowest}")
    assert answer == [(200, {"sha256": upload["sha256"], "verified": True})]
    assert elapsed > len(photo) / LINK_BYTES_PER_S * 0.95, "the link really was that slow"
    assert len(latencies["sync"]) >= 15, "other requests ran all along the upload"
    assert max(max(values) for values in latencies.values()) < ANSWER_WITHIN_S, latencies
    assert status == "delivered"
