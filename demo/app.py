"""The demo's app: the shipped app, plus a demo day planned for each new today.

``make run`` and ``make demo`` serve ``demo.app:create_app()``; production serves
``backend:create_app()`` and never imports this package.
"""

from __future__ import annotations

from datetime import date

from flask import Flask

from backend import clock as app_clock
from backend.app import create_app as create_backend_app
from backend.config import Settings, load_settings
from backend.db.session import Database, get_database
from backend.domain.clock import Clock, local_date
from demo.seed import plan_demo_day_if_missing
from demo.seed_data import METRO_TIMEZONE

# What gunicorn is told to serve (backend.serving.gunicorn_command's ``app``).
WSGI_APP = "demo.app:create_app()"


def create_app(
    settings: Settings | None = None, database: Database | None = None, clock: Clock | None = None
) -> Flask:
    """:func:`backend.app.create_app`, keeping the demo on today outside production."""
    settings = settings or load_settings()
    app = create_backend_app(settings, database, clock)
    # A production database has no demo organization to plan for, and production code
    # must not write demo data whatever a misconfiguration serves.
    if not settings.is_production:
        keep_the_demo_on_today(app)
    return app


def keep_the_demo_on_today(app: Flask) -> None:
    """At the first request of each new day in the demo's time zone, plan that day.

    A demo left running past midnight in Seattle would otherwise have no manifests.
    One date comparison per request; the database is read once a day per process.
    """
    checked: dict[str, date] = {}

    @app.before_request
    def plan_the_demo_day() -> None:
        today = local_date(app_clock.now(), METRO_TIMEZONE)
        if checked.get("day") == today:
            return
        with get_database(app).session() as session:
            plan_demo_day_if_missing(session, today)
        checked["day"] = today
