"""The application's clock: where server code gets "now".

``create_app(clock=...)`` installs one :class:`~backend.domain.clock.Clock` (the
system clock unless a test, the demo or a simulation passes another). Outside an
application context (a migration, a bare script) the system clock answers. An
organization's "today" is :func:`backend.manifests.service.org_today`.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app, has_app_context

from backend.domain.clock import Clock, SystemClock

_SYSTEM = SystemClock()


def init_app(app: Flask, clock: Clock | None) -> None:
    app.extensions["doorstep.clock"] = clock or _SYSTEM


def get_clock() -> Clock:
    if has_app_context():
        clock: Clock = current_app.extensions.get("doorstep.clock", _SYSTEM)
        return clock
    return _SYSTEM


def now() -> datetime:
    return get_clock().now()
