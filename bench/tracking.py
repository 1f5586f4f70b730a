"""Tracking pages under load: 500 recipients polling while drivers sync.

Rates on SQLite with 2 gunicorn workers (the demo's day plus the bench drivers): a
bare Flask endpoint under the same gunicorn command (the framework floor),
``/healthz`` (the app floor, which the targets are against, as in `bench api`), the
tracking page ``/t/<token>`` in full, and its revalidation (``If-None-Match``, 304).
Then a driver's sync latency, alone and while 500 recipients poll their pages every
30 s with ``If-None-Match`` as the page's script does (about 17 requests a second):
the pollers must not slow the drivers by more than 10%. The rate limits are raised
for the run (every poller is 127.0.0.1); everything else is the shipped configuration.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path

from sqlalchemy import select

from backend.db.models import Manifest, Organization, Stop
from backend.db.session import Database, scope_to_tenant
from backend.domain.clock import utc_text
from backend.tracking import tokens
from bench.api import FLOOR_APP, SERVICE_DATE, driver_tokens, seed_bench_drivers
from bench.common import Row, fresh_settings, post_json, server
from bench.load import Load, measure

RECIPIENTS = 500
POLL_EVERY_S = 30.0
SYNCS = 60
POLLER_THREADS = 8
PAGE_TARGET = 0.3
REVALIDATE_TARGET = 0.6
SLOWDOWN_LIMIT = 1.10
UNLIMITED = {
    "DOORSTEP_TRACKING_PER_IP_PER_MINUTE": "100000000",
    "DOORSTEP_TRACKING_PER_LINK_PER_MINUTE": "100000000",
}


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as folder:
        settings = fresh_settings(Path(folder))
        driver = seed_bench_drivers(settings)[0]
        token = driver_tokens(settings, [driver])[0]
        links, stop_ids = _issue_links(settings.database_url, settings.secret_key, driver.user_id)
        with server(settings, app=FLOOR_APP) as bare, server(settings, env=UNLIMITED) as base:
            page = f"{base}/t/{links[0]}"
            etag = _check_page(page)
            floor = _checked(f"{bare}/healthz", {})
            healthz = _checked(f"{base}/healthz", {})
            full = _checked(page, {})
            revalidate = _checked(page, {"If-None-Match": etag})
            alone = _sync_latencies(base, token, stop_ids)
            pollers = _Pollers(base, links)
            pollers.start()
            try:
                polled = _sync_latencies(base, token, stop_ids)
            finally:
                pollers.stop()
    slowdown = statistics.median(polled) / statistics.median(alone)
    return [
        Row(
            "bare Flask endpoint (framework floor)", floor.requests_per_s, "req/s", note=floor.tool
        ),
        Row("GET /healthz (app floor)", healthz.requests_per_s, "req/s", floor.requests_per_s),
        _ratio("GET /t/<token>, the tracking page in full", full, healthz, floor, PAGE_TARGET),
        _ratio(
            "GET /t/<token>, 304 revalidation (If-None-Match)",
            revalidate,
            healthz,
            floor,
            REVALIDATE_TARGET,
        ),
        Row("sync latency, median, no pollers", statistics.median(alone) * 1000, "ms"),
        Row(
            f"sync latency, median, {RECIPIENTS} recipients polling every {POLL_EVERY_S:.0f} s",
            statistics.median(polled) * 1000,
            "ms",
            target=f"<= {SLOWDOWN_LIMIT:.2f} x alone",
            ok=slowdown <= SLOWDOWN_LIMIT,
            note=f"{slowdown:.2f} x; {pollers.answered} polls answered, {pollers.failed} failed",
        ),
    ]


def _issue_links(database_url: str, secret_key: str, driver: int) -> tuple[list[str], list[int]]:
    """A tracking link for each of RECIPIENTS stops, and the bench driver's stop ids."""
    database = Database(database_url)
    try:
        with database.session() as session:
            org_id = session.scalars(
                select(Organization.id).where(Organization.slug == "demo")
            ).one()
            scope_to_tenant(session, org_id)
            stops = list(session.scalars(select(Stop.id).order_by(Stop.id).limit(RECIPIENTS)))
            now = session.scalars(select(Stop.created_at).limit(1)).one()
            links = [tokens.issue(session, org_id, stop_id, secret_key, now) for stop_id in stops]
            mine = list(
                session.scalars(
                    select(Stop.id)
                    .join(Manifest, Manifest.id == Stop.manifest_id)
                    .where(Manifest.driver_id == driver)
                    .order_by(Stop.sequence)
                )
            )
            session.commit()
            return links, mine
    finally:
        database.dispose()


def _check_page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        etag: str = response.headers["ETag"]
    request = urllib.request.Request(url, headers={"If-None-Match": etag})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raise SystemExit(f"bench: the page's revalidation answered {response.status}")
    except urllib.error.HTTPError as exc:
        if exc.code != 304:
            raise SystemExit(f"bench: the page's revalidation answered {exc.code}") from None
    return etag


def _checked(url: str, headers: dict[str, str]) -> Load:
    load = measure(url, headers)
    if load.bad_responses:
        raise SystemExit(f"bench: {url} answered {load.bad_responses} errors under load")
    return load


def _ratio(name: str, load: Load, healthz: Load, bare: Load, target: float) -> Row:
    """The ratio to /healthz against the target, as `bench api` does; bare Flask's in the note."""
    ratio = load.requests_per_s / healthz.requests_per_s
    return Row(
        name,
        load.requests_per_s,
        "req/s",
        healthz.requests_per_s,
        f">= {target}",
        ratio >= target,
        note=f"{load.requests_per_s / bare.requests_per_s:.2f} of bare Flask",
    )


def _sync_latencies(base: str, token: str, stop_ids: list[int]) -> list[float]:
    """SYNCS syncs one after the other, each carrying one note for a stop, as a driver's
    app sends during the day; seconds each."""
    headers = {"Authorization": f"Bearer {token}"}
    device = "bench-tracking"
    cursor: object = None
    times = []
    # Noon of the bench's service date: a plausible report time for the server.
    at_ms = int(datetime.combine(SERVICE_DATE, dt_time(12), UTC).timestamp() * 1000)
    for n in range(SYNCS):
        at_ms += 1000
        event = {
            "id": str(uuid.uuid4()),
            "stop_id": stop_ids[n % len(stop_ids)],
            "type": "note",
            "recorded_at": utc_text(_utc(at_ms)),
            "hlc": f"{at_ms:015d}-000000-{device}",
            "base_version": 1,
            "payload": {"text": "gate code 4411"},
            "evidence": [],
        }
        started = time.monotonic()
        answer = post_json(
            f"{base}/api/v1/sync",
            {"device_id": device, "cursor": cursor, "events": [event]},
            headers,
        )
        times.append(time.monotonic() - started)
        cursor = answer["cursor"]
    return times


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


class _Pollers:
    """RECIPIENTS pages, each asked every POLL_EVERY_S with its last ETag, spread evenly."""

    def __init__(self, base: str, links: list[str]) -> None:
        self.urls = [f"{base}/t/{link}" for link in links]
        self.etags: dict[str, str] = {}
        self.answered = 0
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(n,), daemon=True)
            for n in range(POLLER_THREADS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self, n: int) -> None:
        mine = self.urls[n::POLLER_THREADS]
        gap = POLL_EVERY_S / len(mine)
        index = 0
        while not self._stop.is_set():
            url = mine[index % len(mine)]
            index += 1
            headers = {"If-None-Match": self.etags[url]} if url in self.etags else {}
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers), timeout=30
                ) as response:
                    self.etags[url] = response.headers["ETag"]
                    response.read()
                self.answered += 1
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    self.answered += 1
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1
            self._stop.wait(gap)
