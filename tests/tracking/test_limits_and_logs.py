"""Tracking pages are rate-limited per address and per link, and no log line ever
holds a link."""

from __future__ import annotations

import logging
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.serving import gunicorn_command
from backend.tracking.limits import TrackingLimiter
from backend.tracking.logs import RedactTrackingTokens, redact
from backend.tracking.routes import LIMITER
from demo.devserver import free_port
from tests.tracking.conftest import Day


def test_one_link_polled_too_often_gets_429_with_retry_after(client: FlaskClient, day: Day) -> None:
    answers = [client.get(f"/api/v1/track/{day.token}").status_code for _ in range(31)]
    assert answers[:30] == [200] * 30
    assert answers[30] == 429
    refused = client.get(f"/t/{day.token}")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Please wait a moment" in refused.get_data(as_text=True)
    blocked = client.get(f"/api/v1/track/{day.token}")
    assert blocked.get_json()["code"] == "rate_limited"


def test_one_address_walking_tokens_is_limited_too(
    app: Flask, client: FlaskClient, day: Day
) -> None:
    app.extensions[LIMITER] = TrackingLimiter(per_ip=5, per_link=100)
    answers = [client.get(f"/api/v1/track/{'G' * 23}{n}").status_code for n in range(5)]
    assert answers == [404] * 5
    # The address is used up: even its real link waits now.
    assert client.get(f"/api/v1/track/{day.token}").status_code == 429
    other = client.get(f"/api/v1/track/{day.token}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_the_redaction_filter_rewrites_paths_in_messages_and_arguments() -> None:
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        "x",
        1,
        '%s "GET /t/abc_DEF-123 HTTP/1.1"',
        ("/api/v1/track/xyz/rating",),
        None,
    )
    RedactTrackingTokens().filter(record)
    assert record.getMessage() == '/api/v1/track/<token>/rating "GET /t/<token> HTTP/1.1"'
    assert redact("/tracking-static/tracking.css") == "/tracking-static/tracking.css"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_real_server_writes_no_token_to_its_access_or_error_log(
    settings: Settings, day: Day, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": settings.database_url,
        "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
        "DOORSTEP_SECRETS_DIR": str(settings.secrets_dir),
    }
    command = gunicorn_command(
        f"127.0.0.1:{port}",
        1,
        "--access-logfile",
        str(log),
        "--error-logfile",
        str(log),
        "--log-level",
        "debug",
    )
    process = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[2])  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        statuses = []
        for path in (
            f"/t/{day.token}",
            f"/api/v1/track/{day.token}",
            f"/t/{day.token}?done=x",
            f"/t/{'Z' * 24}",
        ):
            try:
                with urllib.request.urlopen(base + path, timeout=5) as response:  # noqa: S310
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        assert statuses == [200, 200, 200, 404]
    finally:
        process.terminate()
        process.wait(timeout=30)
    written = log.read_text()
    assert "GET /t/<token>" in written  # the access log did record the requests
    assert day.token not in written
    assert "Z" * 24 not in written
