"""Run the app under gunicorn in the background, for the benchmarks and the demo."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from backend.config import PROJECT_ROOT, Settings

GUNICORN = Path(sys.executable).parent / "gunicorn"
WORKER_CLASS = "backend.serving.JsonErrorThreadWorker"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def background_server(settings: Settings, workers: int = 2) -> Iterator[str]:
    """gunicorn on a free loopback port, stopped (by its pid) when the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
        # The workers must sign with the keys this process has, not var/'s.
        "DOORSTEP_SECRETS_DIR": str(settings.secrets_dir),
    }
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [
            str(GUNICORN),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            # gunicorn's own refusals (414, 431, 400) in the API's JSON error shape.
            "--worker-class",
            WORKER_CLASS,
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
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
