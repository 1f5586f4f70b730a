"""Shared set-up for benchmark sections: a seeded database, a real server, result rows."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.cli import migrate
from backend.config import Settings, load_settings
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
