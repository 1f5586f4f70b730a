"""Profile one end-of-shift sync in-process: where a 150-event batch spends its time.

`.venv/bin/python -m bench.profile_sync [sqlite|postgres] [batches] [stats file]` seeds a fresh
database (a new SQLite file, or a new PostgreSQL database at 127.0.0.1:5432 like
``bench shift``), then sends ``batches`` (default 5) end-of-shift batches of 150
delivered events (geo-stamp and two file references each, bench.common's
delivered_events) through the real Flask app under cProfile. It prints the wall time
per batch, the share of a few named costs (the database round trips, parsing events,
sealing, the post-sync hooks) and the top functions by own and cumulative time; a
stats file, if named, is written for ``python -m pstats`` (callers, callees).

Not part of ``python -m bench``: it is the tool for finding what to batch next
(docs/operations.md, "Where the next limit is").
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask.testing import FlaskClient

from backend.app import create_app
from backend.auth.tokens import Principal, TokenType, issue_token
from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.db.session import Database
from backend.domain.roles import Role
from bench.common import fresh_postgres, fresh_settings
from bench.sync import _batch, _ingest, _world

# Named costs: a function (file suffix, function name) whose cumulative time is shown
# as a share of the whole batch.
NAMED = (
    ("DBAPI execute (round trips, driver parsing)", "sqlalchemy/engine/default.py", "do_execute"),
    ("DBAPI executemany", "sqlalchemy/engine/default.py", "do_executemany"),
    ("SQLAlchemy execute (compile, bind, DBAPI)", "sqlalchemy/engine/base.py", "_execute_context"),
    ("parse events (parse_event + fingerprint)", "backend/sync/ingest.py", "_parse"),
    ("store (inserts, seal, webhooks, notifications)", "backend/sync/ingest.py", "_store"),
    ("seal deliveries", "backend/sync/seal.py", "seal_delivery"),
    ("seal deliveries (batch)", "backend/sync/seal.py", "seal_deliveries"),
    ("notification triggers", "backend/notifications/triggers.py", "on_door_events"),
    ("webhooks queued", "backend/sync/ingest.py", "_queue_webhooks"),
    ("rederive stops", "backend/sync/derive.py", "rederive_stops"),
    ("ETA after_sync", "backend/eta/service.py", "after_sync"),
    ("uploads owed", "backend/sync/service.py", "_uploads_owed"),
    ("pull changes", "backend/sync/service.py", "_pull"),
    ("commit", "sqlalchemy/orm/session.py", "commit"),
    ("JSON request decode", "json/__init__.py", "loads"),
)


def _profiled_batch(
    client: FlaskClient,
    settings: Settings,
    org_id: int,
    driver: tuple[int, str, list[int]],
    profiler: cProfile.Profile,
) -> float:
    """bench.sync's end-of-shift batch, with only the batch's request profiled."""
    user_id, username, stop_ids = driver
    device = f"dev-{username}"
    token = issue_token(
        settings, TokenType.ACCESS, Principal(user_id, org_id, Role.DRIVER, username, device)
    ).token
    headers = {"Authorization": f"Bearer {token}"}
    start = client.post(
        "/api/v1/sync", json={"device_id": device, "cursor": None, "events": []}, headers=headers
    )
    events = _batch(device, stop_ids)
    body = {"device_id": device, "cursor": start.get_json()["cursor"], "events": events}
    started = time.perf_counter()
    profiler.enable()
    response = client.post("/api/v1/sync", json=body, headers=headers)
    profiler.disable()
    elapsed = time.perf_counter() - started
    results = response.get_json()["results"]
    if response.status_code != 200 or any(r["status"] != "applied" for r in results):
        raise SystemExit(f"profile: the batch was not applied: {response.get_json()}")
    return elapsed


@contextmanager
def _settings(kind: str) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            yield fresh_settings(Path(folder))
            return
        with fresh_postgres() as url:
            settings = load_settings(
                environ={},
                database_url=url,
                storage_dir=Path(folder) / "evidence",
                secrets_dir=Path(folder),
            )
            migrate(settings)
            yield settings


def _named(stats: pstats.Stats, total: float, batches: int) -> list[str]:
    lines = []
    # pstats keeps (file, line, name) -> (calls, primitive, tottime, cumtime, callers).
    raw = stats.stats  # type: ignore[attr-defined]
    for label, suffix, name in NAMED:
        cum = sum(
            entry[3]
            for (filename, _, function), entry in raw.items()
            if function == name and filename.endswith(suffix)
        )
        if cum:
            lines.append(f"  {label:<52} {cum * 1000 / batches:8.1f} ms  {cum / total:5.1%}")
    return lines


def profile(kind: str, batches: int, dump: str | None = None) -> str:
    with _settings(kind) as settings:
        database = Database(settings.database_url)
        org_id, drivers = _world(database, batches + 1)
        client = create_app(settings, database).test_client()
        # One batch unprofiled first: caches, prepared statements, imports.
        _ingest(client, settings, org_id, drivers[-1])
        profiler = cProfile.Profile()
        walls = []
        for driver in drivers[:batches]:
            walls.append(_profiled_batch(client, settings, org_id, driver, profiler))
        database.dispose()
    out = io.StringIO()
    if dump:
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler, stream=out)
    print(f"{kind}: {batches} batches of 150 delivered events", file=out)
    print(
        "  wall per batch (under the profiler): " + ", ".join(f"{w * 1000:.0f} ms" for w in walls),
        file=out,
    )
    print("  named costs per batch (cumulative, profiled):", file=out)
    for line in _named(stats, stats.total_tt, batches):  # type: ignore[attr-defined]
        print(line, file=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    return out.getvalue()


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else "postgres"
    if kind not in ("sqlite", "postgres"):
        print("usage: python -m bench.profile_sync [sqlite|postgres] [batches]")
        return 2
    batches = int(argv[1]) if len(argv) > 1 else 5
    print(profile(kind, batches, argv[2] if len(argv) > 2 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
