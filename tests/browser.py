"""Chromium for every browser test: where it is, how it starts, and one Playwright
session per test run.

Playwright's sync API allows one running instance per thread, so the console's,
the tracking page's and the demo's browser tests share :func:`browser` (a session
fixture the root conftest exposes) instead of starting their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from backend.config import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Every name but 127.0.0.1 fails to resolve inside the browser, so a page that
    # pulls a font or script from elsewhere breaks here instead of leaking traffic.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Like the driver app's UI tests: var/screenshots by default, so a test run leaves the
# tree clean; DOORSTEP_SCREENSHOTS=docs/screenshots refreshes the ones the docs show.
SCREENSHOTS = PROJECT_ROOT / os.environ.get("DOORSTEP_SCREENSHOTS", "var/screenshots")
# Why the browser tests were skipped, for the run's summary (tests/console/conftest.py).
browser_skip_reason: list[str] = []


def start_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: install it with "
            "`sudo apt-get install --no-install-recommends chromium fonts-dejavu-core` "
            "(or `make browser-deps` as root); never `playwright install`"
        )
        if os.environ.get("DOORSTEP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DOORSTEP_REQUIRE_BROWSER=1 but {reason}")
        browser_skip_reason.append(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
