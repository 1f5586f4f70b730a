"""Driver manifest throughput: full body and 304 revalidation against /healthz."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.request
from datetime import date
from pathlib import Path

from backend.db.session import Database
from backend.seed import seed_demo
from bench.common import Row, fresh_settings, login, server

DURATION_S = 5
CONNECTIONS = 16


def _wrk(url: str, headers: dict[str, str]) -> float:
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    # A short warm-up, then the measured run.
    subprocess.run([*args[:3], "-d1s", *args[5:], url], capture_output=True, check=True)
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise SystemExit(f"bench: {url} answered errors:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise SystemExit(f"bench: could not read wrk's output:\n{output}")
    return float(match.group(1))


def run() -> list[Row]:
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (make bench installs it with apt-get)")
    today = date(2026, 11, 24)
    with tempfile.TemporaryDirectory() as folder:
        settings = fresh_settings(Path(folder))
        database = Database(settings.database_url)
        with database.session() as session:
            seed_demo(session, settings, today)
        database.dispose()
        with server(settings) as base:
            token = login(base, "driver1", settings.demo_password, "bench")
            auth = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
            url = f"{base}/api/v1/manifests/mine?date={today}"
            request = urllib.request.Request(url, headers=auth)
            with urllib.request.urlopen(request) as response:
                etag = response.headers["ETag"]
                stops = len(
                    __import__("json").loads(__import__("gzip").decompress(response.read()))[
                        "stops"
                    ]
                )
            floor = _wrk(f"{base}/healthz", {})
            full = _wrk(url, auth)
            revalidate = _wrk(url, {**auth, "If-None-Match": etag})
    return [
        Row("GET /healthz (floor: one SELECT 1)", floor, "req/s"),
        Row(
            f"GET /manifests/mine, full body ({stops} stops, gzip)",
            full,
            "req/s",
            floor,
            ">= 0.25",
            full / floor >= 0.25,
        ),
        Row(
            "GET /manifests/mine, 304 revalidation",
            revalidate,
            "req/s",
            floor,
            ">= 0.6",
            revalidate / floor >= 0.6,
        ),
    ]
