"""How gunicorn serves Doorstep: the one configuration for `make run`, `make serve-prod`,
`make demo`, the benchmarks and the tests (``gunicorn -c backend/gunicorn_conf.py``).

The serving model is threaded workers (``gthread``), each thread bounded by an idle
timeout on its client socket. A client that stops sending half-way through its request
(a phone losing signal mid-upload, or someone doing it on purpose) then holds one
thread for at most CLIENT_IDLE_TIMEOUT_S between two packets, not a whole worker until
the worker is killed: with the previous synchronous workers, two such clients made
/healthz wait 30+ seconds. Connections idle between keep-alive requests wait in each
worker's event loop and hold no thread; a new connection that sends nothing holds one
for at most 5 s (gunicorn's own wait for its first bytes) before joining them.

A worker survives up to ``threads - 1`` stalled clients at once. Beyond that, and for
slow uploads generally, production puts nginx in front to read every request body
before it reaches gunicorn (docs/operations.md, deploy/nginx-doorstep.conf).

Command-line flags override these settings (`make run` passes --bind and --workers).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

wsgi_app = "backend:create_app()"
bind = ["127.0.0.1:8000"]
workers = 2
# gunicorn's gthread worker, closing connections off its event loop (see the module).
# Threads that close clients off the main loop, answering gunicorn's own refusals (414,
# 431, 400) in the API's JSON error shape.
worker_class = "backend.serving.JsonErrorThreadWorker"
# More than the stalled clients one worker should outlast, and no more than the
# PostgreSQL pool per process (5 + 10 overflow, backend/db/session.py), so a busy
# worker never waits for a database connection. A thread reading a slow body holds
# no database connection: sessions connect at their first query.
threads = 12
# Idle keep-alive connections wait in the worker's event loop, not in a thread.
keepalive = 5
# gthread's main loop stays responsive while threads work, so this only catches a
# worker whose event loop is stuck; it does not cut long requests short.
timeout = 30
graceful_timeout = 30

CLIENT_IDLE_TIMEOUT_S = float(os.environ.get("DOORSTEP_CLIENT_IDLE_TIMEOUT_S", "10"))


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


def bound_client_io(listener: Any, seconds: float) -> None:
    """Make every connection ``listener`` accepts give up after ``seconds`` without
    progress: a blocking read (request line, headers, body) or write then fails instead
    of waiting forever.

    Set as kernel socket options on the listening socket, which accepted sockets
    inherit: gthread switches each client socket between blocking and non-blocking
    itself (so a Python-level timeout would be reset), and no gunicorn hook runs before
    it reads the request head.
    """
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(seconds))


def post_worker_init(worker: Any) -> None:
    for listener in worker.sockets:
        bound_client_io(listener, CLIENT_IDLE_TIMEOUT_S)
