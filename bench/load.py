"""HTTP load generators: wrk when installed, else a threaded keep-alive Python client.

Both run for a fixed time against one URL on the loopback interface, after a short
warm-up, and report requests per second and how many answers were errors. A section
compares runs made with the same generator only, so which one ran does not bias a ratio.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

DURATION_S = 5
WARMUP_S = 1
CONNECTIONS = 16
WRK_THREADS = 2


@dataclass(frozen=True)
class Load:
    """One measured run."""

    requests_per_s: float
    # Answers outside 2xx/3xx: a run with any is measuring an error path, not the API.
    bad_responses: int
    # Connect/read/write/timeout errors; gunicorn's sync workers close each connection,
    # so a few read errors at the end of a run are normal and only reported.
    socket_errors: int
    tool: str


def load_tool() -> str:
    """The generator this machine will use: "wrk" or "python"."""
    return "wrk" if shutil.which("wrk") else "python"


def measure(url: str, headers: dict[str, str], duration_s: int = DURATION_S) -> Load:
    """Warm up for WARMUP_S, then load ``url`` for ``duration_s`` seconds."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmarks only send traffic to 127.0.0.1")
    run = _wrk if load_tool() == "wrk" else _python
    run(url, headers, WARMUP_S)
    return run(url, headers, duration_s)


def _wrk(url: str, headers: dict[str, str], duration_s: int) -> Load:
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{duration_s}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [*args, url], capture_output=True, text=True, check=False, timeout=duration_s + 30
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if result.returncode != 0 or rate is None:
        raise SystemExit(f"bench: wrk failed on {url}:\n{result.stdout}{result.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout
    )
    return Load(
        requests_per_s=float(rate.group(1)),
        bad_responses=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        tool="wrk",
    )


@dataclass
class _Tally:
    done: int = 0
    bad: int = 0
    socket_errors: int = 0


def _python(url: str, headers: dict[str, str], duration_s: int) -> Load:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + duration_s
    tallies = [_Tally() for _ in range(CONNECTIONS)]

    def client(tally: _Tally) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        while time.monotonic() < deadline:
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                tally.socket_errors += 1
                # A closed connection reopens on the next request.
                connection.close()
                continue
            tally.done += 1
            tally.bad += not 200 <= response.status < 400
            if response.will_close:
                # gunicorn's sync workers answer "Connection: close": reconnect, as wrk does.
                connection.close()
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(t,)) for t in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return Load(
        requests_per_s=sum(t.done for t in tallies) / elapsed,
        bad_responses=sum(t.bad for t in tallies),
        socket_errors=sum(t.socket_errors for t in tallies),
        tool="python",
    )
