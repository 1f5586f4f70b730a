"""HTTP load generators: wrk when installed, else a threaded keep-alive Python client.

Both run for a fixed time against one URL on the loopback interface, after a short
warm-up, and report requests per second and how many answers were errors. A section
compares runs made with the same generator only, so which one ran does not bias a ratio.

:func:`measure_rotating` spreads the load over many URLs (one driver's manifest each,
so no per-process cache can answer twice): wrk walks the list with a generated Lua
script. Both generators report the 99th-percentile latency.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DURATION_S = 5
WARMUP_S = 1
CONNECTIONS = 16
WRK_THREADS = 2

# One request to make: a loopback URL and its headers.
Target = tuple[str, dict[str, str]]


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
    # The 99th-percentile latency in milliseconds.
    p99_ms: float | None = None


def load_tool() -> str:
    """The generator this machine will use: "wrk" or "python"."""
    return "wrk" if shutil.which("wrk") else "python"


def measure(url: str, headers: dict[str, str], duration_s: int = DURATION_S) -> Load:
    """Warm up for WARMUP_S, then load ``url`` for ``duration_s`` seconds."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmarks only send traffic to 127.0.0.1")
    return measure_rotating([(url, headers)], duration_s)


def measure_rotating(
    targets: Sequence[Target], duration_s: int = DURATION_S, connections: int = CONNECTIONS
) -> Load:
    """Warm up, then load every ``(url, headers)`` in turn for ``duration_s`` seconds.

    Each connection starts at its own place in the list and walks it round, so at any
    moment the connections ask for different URLs. The warm-up reads the list once
    from each connection too, so the measured run is past the first connection's cost.
    """
    if not all(url.startswith("http://127.0.0.1:") for url, _ in targets):
        raise ValueError("benchmarks only send traffic to 127.0.0.1")
    run = _wrk if load_tool() == "wrk" else _python
    run(targets, WARMUP_S, connections)
    return run(targets, duration_s, connections)


def _wrk(targets: Sequence[Target], duration_s: int, connections: int) -> Load:
    url = targets[0][0]
    threads = min(WRK_THREADS, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(targets))
    try:
        result = subprocess.run(
            [*args, "-s", script.name, url],
            capture_output=True,
            text=True,
            check=False,
            timeout=duration_s + 30,
        )
    finally:
        os.unlink(script.name)
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
        p99_ms=_wrk_p99_ms(result.stdout),
    )


def _wrk_script(targets: Sequence[Target]) -> str:
    """A wrk Lua script that sends each target's path and headers in turn; each wrk
    thread starts at its own place in the list (``setup`` hands it an offset)."""

    def lua(text: str) -> str:
        return json.dumps(text)  # a JSON string of ASCII is a valid Lua string

    def entry(url: str, headers: dict[str, str]) -> str:
        fields = ", ".join(f"[{lua(name)}]={lua(value)}" for name, value in headers.items())
        return f"{{path={lua(_path_and_query(url))}, headers={{{fields}}}}}"

    entries = ",\n".join(entry(url, headers) for url, headers in targets)
    return (
        f"local targets = {{\n{entries}\n}}\n"
        "local turn = 0\n"
        "local started = 0\n"
        "setup = function(thread)\n"
        "  thread:set('offset', started)\n"
        "  started = started + 1 + math.floor(#targets / 2)\n"
        "end\n"
        "init = function(args) turn = offset or 0 end\n"
        "request = function()\n"
        "  turn = turn + 1\n"
        "  local t = targets[(turn % #targets) + 1]\n"
        "  return wrk.format('GET', t.path, t.headers)\n"
        "end\n"
    )


def _wrk_p99_ms(output: str) -> float | None:
    found = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


@dataclass
class _Tally:
    done: int = 0
    bad: int = 0
    socket_errors: int = 0
    latencies_s: list[float] = field(default_factory=list)


def _python(targets: Sequence[Target], duration_s: int, connections: int) -> Load:
    parts = urlsplit(targets[0][0])
    paths = [(_path_and_query(url), headers) for url, headers in targets]
    deadline = time.monotonic() + duration_s
    tallies = [_Tally() for _ in range(connections)]

    def client(number: int, tally: _Tally) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        turn = number * len(paths) // connections
        while time.monotonic() < deadline:
            target, headers = paths[turn % len(paths)]
            turn += 1
            began = time.perf_counter()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                tally.socket_errors += 1
                # A closed connection reopens on the next request.
                connection.close()
                continue
            tally.latencies_s.append(time.perf_counter() - began)
            tally.done += 1
            tally.bad += not 200 <= response.status < 400
            if response.will_close:
                # gunicorn's sync workers answer "Connection: close": reconnect, as wrk does.
                connection.close()
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n, t)) for n, t in enumerate(tallies)]
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
        p99_ms=_p99_ms([s for t in tallies for s in t.latencies_s]),
    )


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _p99_ms(latencies_s: list[float]) -> float | None:
    if not latencies_s:
        return None
    ordered = sorted(latencies_s)
    return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
