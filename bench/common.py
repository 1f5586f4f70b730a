"""Shared set-up for benchmark sections: a seeded database and a real server."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.cli import migrate
from backend.config import Settings, load_settings
from backend.devserver import background_server as server

__all__ = ["Row", "fresh_settings", "login", "post_json", "server"]


@dataclass
class Row:
    name: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    ok: bool | None = None

    def render(self) -> str:
        ratio = ""
        if self.floor:
            ratio = f"  ratio {self.value / self.floor:5.2f}"
        verdict = "" if self.ok is None else ("  PASS" if self.ok else "  BELOW TARGET")
        target = f"  (target {self.target})" if self.target else ""
        return f"  {self.name:<52} {self.value:>12,.1f} {self.unit:<10}{ratio}{target}{verdict}"


def fresh_settings(folder: Path) -> Settings:
    settings = load_settings(
        environ={}, database_url=f"sqlite:///{folder / 'bench.db'}", storage_dir=folder / "evidence"
    )
    migrate(settings)
    return settings


def post_json(url: str, body: object, headers: dict[str, str] | None = None) -> dict[str, object]:
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
    body = post_json(
        f"{base}/api/v1/auth/token",
        {"username": username, "password": password, "device_id": device},
    )
    return str(body["access_token"])
