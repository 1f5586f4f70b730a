"""gunicorn's threaded worker, changed in one place: who waits for a closing client.

gunicorn 27's gthread worker closes a connection it will not keep alive "gracefully":
it sends FIN, then waits up to 2 s for the client to close its side before closing the
socket, so the last response is not cut short by a reset (RFC 9112 section 9.6). It
does that wait on the worker's event loop, which meanwhile accepts nothing and hands no
finished request back. A client that was dropped for stalling (backend/gunicorn_conf.py)
and keeps its socket open therefore froze the whole worker for 2 s, one client after
another: eight of them made a worker unresponsive for 16 s.

Here the thread that served the connection does the wait instead, then shuts the
socket's read side, so the event loop's own graceful close finds nothing left to wait
for and returns at once.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

# gunicorn's own bounds for the graceful close (gunicorn.util.close_graceful).
LINGER_S = 2.0
LINGER_MAX_BYTES = 65536


class ThreadWorker(GunicornThreadWorker):  # type: ignore[misc]
    """``worker_class = "backend.gunicorn_worker.ThreadWorker"``."""

    def handle(self, conn: Any) -> Any:
        keep: Any = super().handle(conn)
        # False: the event loop is about to close the connection (True keeps it alive;
        # anything else hands it back to the event loop to wait for data).
        if keep is False:
            linger_then_shut(conn.sock)
        return keep


def linger_then_shut(sock: socket.socket) -> None:
    """Send FIN, read what the client still sends until it closes (at most LINGER_S,
    LINGER_MAX_BYTES), then stop reading. Leaves the socket open for its owner to close.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return  # reset by the client or already closed: nothing to wait for
    deadline = time.monotonic() + LINGER_S
    drained = 0
    try:
        while drained < LINGER_MAX_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            data = sock.recv(4096)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass  # the linger ran out, or the client reset: stop waiting either way
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
