"""Shared set-up for benchmark sections: a seeded database, a real server, result rows."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, insert

from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.db.models import DoorEventRow, EventEvidence, EvidenceFile
from backend.domain.clock import utc_text
from demo.devserver import background_server as server

__all__ = ["Row", "fresh_settings", "login", "post_json", "server"]


@dataclass
class Row:
    """One line of the report: a value, optionally its ratio to a floor and a target."""

    name: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    def render(self) -> str:
        ratio = ""
        if self.floor:
            ratio = f"  ratio {self.value / self.floor:5.2f}"
        verdict = "" if self.ok is None else ("  PASS" if self.ok else "  BELOW")
        target = f"  (target {self.target})" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        return (
            f"  {self.name:<56} {self.value:>12,.1f} {self.unit:<10}{ratio}{target}{verdict}{note}"
        )


def fresh_settings(folder: Path) -> Settings:
    """Settings for a new, migrated SQLite database in ``folder`` (no environment read)."""
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{folder / 'bench.db'}",
        storage_dir=folder / "evidence",
        secrets_dir=folder,
    )
    migrate(settings)
    return settings


def post_json(url: str, body: object, headers: dict[str, str] | None = None) -> dict[str, object]:
    """POST ``body`` as JSON and return the decoded JSON answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def login(base: str, username: str, password: str, device: str) -> str:
    """An access token for ``username``, from the real login endpoint."""
    body = post_json(
        f"{base}/api/v1/auth/token",
        {"username": username, "password": password, "device_id": device},
    )
    return str(body["access_token"])


def delivered_events(device: str, stop_ids: list[int], first_ms: int) -> list[dict[str, Any]]:
    """One delivered event per stop, a minute apart from ``first_ms`` (epoch ms), each
    with a geo-stamp and two file references (signature and photo), as the app sends."""
    events = []
    for i, stop_id in enumerate(stop_ids):
        at_ms = first_ms + i * 60_000
        files = [
            hashlib.sha256(f"{device}-{stop_id}-{kind}".encode()).hexdigest()
            for kind in ("signature", "photo")
        ]
        events.append(
            {
                "id": str(uuid.uuid4()),
                "stop_id": stop_id,
                "type": "delivered",
                "recorded_at": utc_text(datetime.fromtimestamp(at_ms / 1000, UTC)),
                "hlc": f"{at_ms:015d}-000000-{device}",
                "base_version": 1,
                "payload": {
                    "recipient_name": "Dana Whitfield",
                    "geo": {
                        "lat": 47.6 + i / 10_000,
                        "lon": -122.3001,
                        "accuracy_m": 7.5,
                        "fixed_at": None,
                    },
                    "scanned_barcodes": [f"P{stop_id}"],
                    "where_left": "front_door",
                },
                "evidence": [
                    {
                        "sha256": files[0],
                        "kind": "signature",
                        "content_type": "image/png",
                        "size": 4200,
                    },
                    {
                        "sha256": files[1],
                        "kind": "photo",
                        "content_type": "image/jpeg",
                        "size": 180_000,
                    },
                ],
            }
        )
    return events


def insert_events_core(
    conn: Connection, org_id: int, driver_id: int, events: list[dict[str, Any]], now: datetime
) -> None:
    """The floor a sync is measured against: the same event, evidence and file rows as
    one Core bulk insert each, with none of the checks, sealing or feed work."""
    ids = conn.scalars(
        insert(DoorEventRow).returning(DoorEventRow.id, sort_by_parameter_order=True),
        [
            {
                "org_id": org_id,
                "event_id": e["id"],
                "stop_id": e["stop_id"],
                "driver_id": driver_id,
                "device_key": "floor",
                "type": e["type"],
                "recorded_at": now,
                "received_at": now,
                "hlc": e["hlc"],
                "base_version": 1,
                "payload": e["payload"],
                "evidence": e["evidence"],
                "fingerprint": "0" * 64,
                "result": "applied",
                "result_code": "",
            }
            for e in events
        ],
    ).all()
    conn.execute(
        insert(EventEvidence),
        [
            {
                "org_id": org_id,
                "event_row_id": row_id,
                "sha256": ref["sha256"],
                "kind": ref["kind"],
            }
            for row_id, e in zip(ids, events, strict=True)
            for ref in e["evidence"]
        ],
    )
    conn.execute(
        insert(EvidenceFile),
        [
            {
                "org_id": org_id,
                "sha256": ref["sha256"],
                "content_type": ref["content_type"],
                "size": ref["size"],
                "created_at": now,
            }
            for e in events
            for ref in e["evidence"]
        ],
    )


def _admin_url() -> str:
    url = os.environ.get(
        "DOORSTEP_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    if "127.0.0.1" not in url and "localhost" not in url:
        raise SystemExit("bench: benchmarks only run against a local PostgreSQL")
    return url


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, uniquely named PostgreSQL database, dropped when the block ends."""
    admin = _admin_url()
    plain = admin.replace("postgresql+psycopg://", "postgresql://")
    name = f"doorstep_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise SystemExit(f"bench: PostgreSQL unreachable at {admin}: {exc}") from exc
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(folder: Path, database_url: str) -> dict[str, str]:
    """What `make serve-prod` needs: production mode with real (random) secrets."""
    seed = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "DOORSTEP_ENV": "production",
        "DATABASE_URL": database_url,
        "DOORSTEP_SECRET_KEY": secrets.token_urlsafe(48),
        "DOORSTEP_JWT_KEYS": f"bench:{secrets.token_urlsafe(48)}",
        "DOORSTEP_RECEIPT_KEYS": f"bench:{seed}",
        "DOORSTEP_STORAGE_DIR": str(folder / "evidence"),
        "DOORSTEP_SECRETS_DIR": str(folder),
    }
