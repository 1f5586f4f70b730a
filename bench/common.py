"""Shared set-up for benchmark sections: a seeded database and a real server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.cli import migrate
from backend.config import PROJECT_ROOT, Settings, load_settings

GUNICORN = Path(sys.executable).parent / "gunicorn"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(settings: Settings, workers: int = 2) -> Iterator[str]:
    """gunicorn serving the app on a free loopback port; stopped by its pid afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
    }
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "backend:create_app()",
        ],
        env=env,
        cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench: the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


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
