"""`make serve-prod`'s commands: gunicorn with several workers against PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from backend.config import PROJECT_ROOT
from demo.devserver import free_port


def _production_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DOORSTEP_ENV": "production",
        "DATABASE_URL": database_url,
        "DOORSTEP_SECRET_KEY": "s" * 40,
        "DOORSTEP_JWT_KEYS": "k1:" + "n" * 48,
        "DOORSTEP_RECEIPT_KEYS": "r1:cHJvZHVjdGlvbi1yZWNlaXB0LXNlZWQtMzItYnl0ZXM=",
    }


def test_production_mode_refuses_demo_secrets_before_touching_the_database() -> None:
    env = {**os.environ, "DOORSTEP_ENV": "production"}
    env.pop("DOORSTEP_JWT_KEYS", None)
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr


def test_gunicorn_serves_several_workers_against_postgresql(postgresql_url: str) -> None:
    env = _production_env(postgresql_url)
    migrate = subprocess.run(
        [sys.executable, "-m", "backend.cli", "migrate"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    # What `make serve-prod` runs: `doorstep serve` becomes gunicorn (exec, same pid).
    server = subprocess.Popen(  # noqa: S603 - fixed argv, our own gunicorn
        [sys.executable, "-m", "backend.cli", "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    assert r.read() == b'{"status":"ok"}\n'
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not become healthy")
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
