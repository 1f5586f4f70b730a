"""Run the app under gunicorn in the background, for the benchmarks, the demo and tests.

The command line is the one every server here runs (backend.serving.gunicorn_command);
by default it serves the demo's app, as ``make run`` and ``make demo`` do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping

from backend.config import PROJECT_ROOT, Settings
from backend.serving import gunicorn_command
from demo.app import WSGI_APP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def background_server(
    settings: Settings,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    app: str | None = WSGI_APP,
    port: int | None = None,
) -> Iterator[str]:
    """gunicorn on a free loopback port, stopped (by its pid) when the block ends.

    ``env`` adds to the environment the server starts with (on top of the database and
    storage folder of ``settings``). ``app`` is what it serves (None: the shipped app).
    ``port``: a port picked beforehand (when the environment must name the server's
    address, as ``DOORSTEP_PUBLIC_URL`` does); a free one by default.
    """
    port = port or free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
        # The workers must sign with the keys this process has, not var/'s.
        "DOORSTEP_SECRETS_DIR": str(settings.secrets_dir),
        **(env or {}),
    }
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        gunicorn_command(f"127.0.0.1:{port}", workers, "--log-level", "warning", app=app),
        env=environment,
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
