"""Fixtures for the web console's browser tests: a simulated day, a server, Chromium.

The console is tested the way a dispatcher uses it: a real gunicorn serving a day made
by ``make demo``'s own simulation, driven through Debian's Chromium by Playwright.
Playwright's bundled browsers are never used (``playwright install`` needs a download
host CI cannot reach); ``make browser-deps`` installs Chromium with apt instead. Without
it the browser tests are skipped and the session ends with a loud banner, unless
DOORSTEP_REQUIRE_BROWSER=1 turns that into a failure (CI).
"""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from backend.config import load_settings
from demo import day as demo_day
from demo.devserver import background_server
from tests.browser import SCREENSHOTS, browser_skip_reason

DEFAULT_TIMEOUT_MS = 15_000
# Two rounds keep the day to about 10 s (`make demo` runs demo_day.ROUNDS, 8) and still leave
# ~36 delivered stops (~30 with a complete proof to dispute), a few failed ones, and open
# outside_geofence, outside_time_window and delivered_after_cancel exceptions besides
# hundreds of no_outcome stops not reached yet.
DAY_ROUNDS = 2


@pytest.fixture(scope="session")
def console_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a simulated day: demo_day.database_path(folder), folder / "evidence"."""
    folder = tmp_path_factory.mktemp("console-day")
    output = io.StringIO()
    # monkeypatch is function-scoped; this day is shared by the whole session.
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
        patch.setattr(demo_day, "ROUNDS", DAY_ROUNDS)
        # The seeded users must accept helpers.DEMO_PASSWORD whatever the shell exports.
        patch.delenv("DOORSTEP_DEMO_PASSWORD", raising=False)
        code = demo_day.run_day(folder)
    assert code == 0, f"the simulated day lost events:\n{output.getvalue()}"
    return folder


@pytest.fixture(scope="session")
def console_date(console_day: Path) -> date:
    """The day's service date, read back from its manifests.

    run_day uses date.today(); reading it back keeps a session that crosses midnight on
    the day that was actually simulated.
    """
    with contextlib.closing(sqlite3.connect(demo_day.database_path(console_day))) as db:
        dates = {row[0] for row in db.execute("SELECT DISTINCT service_date FROM manifest")}
    assert len(dates) == 1, dates
    return date.fromisoformat(dates.pop())


@pytest.fixture(scope="session")
def console_url(console_day: Path) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT) of gunicorn serving the simulated day."""
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{demo_day.database_path(console_day)}",
        storage_dir=demo_day.evidence_dir(console_day),
        secrets_dir=console_day,
    )
    with background_server(settings) as base:
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page on a laptop-sized screen; no cookies carried over between tests."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 800},
        accept_downloads=True,
        # Chromium otherwise takes both from the machine (LANG, TZ): date inputs and
        # screenshots would differ between a laptop and CI.
        locale="en-US",
        timezone_id="UTC",
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """shot(page, name) saves the page as <SCREENSHOTS>/console-<name>.png: all of it, or
    with ``full_page=False`` the screen a person sees (for pages hundreds of rows long)."""

    def shot(page: Page, name: str, full_page: bool = True) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"screenshot names are lowercase words and dashes: {name!r}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return shot


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if browser_skip_reason:
        terminalreporter.write_sep(
            "!", "CONSOLE BROWSER TESTS WERE SKIPPED: no Chromium", red=True, bold=True
        )
        terminalreporter.write_line(f"reason: {browser_skip_reason[0]}")
