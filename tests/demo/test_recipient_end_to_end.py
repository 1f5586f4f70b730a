"""Issue #11's "done means", end to end on the pieces `make demo` runs.

`make demo`'s day (demo.day, no rounds: every driver has downloaded the plan, nobody
has set off) served by gunicorn (background_server) on the real clock, the demo's
mailbox (a real aiosmtpd server), the real `doorstep notify` worker in the background,
the demo's live driver (demo.live: the driver app's core, sending positions in its
syncs) and Debian's Chromium at 390 x 844:

the recipient opens their link before departure; the driver approaches (positions,
deliveries of the stops before) and the page counts down; "arriving soon" arrives by
e-mail with the link; the driver delivers with a photo; the page shows the photo and a
proof that verifies; the recipient reports "not received"; support finds the dispute
with the evidence in the console's queue; reconciliation has the day's on-time,
first-attempt and ETA-accuracy figures and answers the trend.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page

from backend.config import PROJECT_ROOT, Settings, load_settings
from demo import day as demo_day
from demo import mailbox
from demo.devserver import background_server, free_port
from demo.live import LIVE_DRIVER, LiveDriver
from tests.browser import SCREENSHOTS
from tests.console.helpers import DEMO_PASSWORD, login

pytestmark = pytest.mark.slow

# The recipient's stop: the fourth of the live driver's route, so the page counts
# three stops down before the driver is at their door.
MINE = 3
MAIL_WAIT_S = 120.0
ETA_TEXT = re.compile(r"(?:about (\d+) minutes|any minute now), (?:(\d+) stops? before yours|you)")


@pytest.fixture
def demo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`make demo`'s day before anyone set off (demo.day with no rounds)."""
    folder = tmp_path / "demo"
    monkeypatch.setattr(demo_day, "ROUNDS", 0)
    # The seeded users must accept DEMO_PASSWORD whatever the shell exports.
    monkeypatch.delenv("DOORSTEP_DEMO_PASSWORD", raising=False)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert demo_day.run_day(folder) == 0, output.getvalue()
    return folder


def _settings(folder: Path) -> Settings:
    return load_settings(
        environ={},
        database_url=f"sqlite:///{demo_day.database_path(folder)}",
        storage_dir=demo_day.evidence_dir(folder),
        secrets_dir=folder,
    )


def _service_date(folder: Path) -> date:
    """The day that was simulated, read back (a run crossing midnight keeps its day)."""
    with contextlib.closing(sqlite3.connect(demo_day.database_path(folder))) as db:
        (value,) = {row[0] for row in db.execute("SELECT DISTINCT service_date FROM manifest")}
    return date.fromisoformat(value)


@contextlib.contextmanager
def _notify_worker(settings: Settings, env: dict[str, str]) -> Iterator[None]:
    """`doorstep notify` in the background, as `make demo` runs it; stopped by its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "notify", "--every", "0.5"],
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
            "DOORSTEP_SECRETS_DIR": str(settings.secrets_dir),
            **env,
        },
        cwd=PROJECT_ROOT,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _phone(browser: Browser) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        timezone_id="UTC",
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def _eta(page: Page) -> tuple[int, int]:
    """(minutes, stops before) from the page's ETA line; "any minute now" is 0 minutes,
    "you are next" 0 stops."""
    text = page.locator(".eta").inner_text()
    found = ETA_TEXT.search(text)
    assert found, text
    return int(found.group(1) or 0), int(found.group(2) or 0)


def _eta_json(base: str, path: str) -> dict[str, Any]:
    answer = requests.get(f"{base}/api/v1/track/{path.removeprefix('/t/')}", timeout=10)
    assert answer.status_code == 200, answer.text
    eta: dict[str, Any] = answer.json()["eta"]
    return eta


def _wait_for(what: str, check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.25)


def _mail(caught: list[mailbox.Caught], words: str, order_number: str) -> list[mailbox.Caught]:
    return [c for c in caught if words in c.subject and order_number in c.subject]


def _token(base: str, username: str) -> dict[str, str]:
    answer = requests.post(
        f"{base}/api/v1/auth/token",
        json={"username": username, "password": DEMO_PASSWORD, "device_id": "e2e"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_recipient_follows_their_parcel_on_the_demo_day(
    demo_folder: Path, browser: Browser
) -> None:
    settings = _settings(demo_folder)
    service_date = _service_date(demo_folder)
    links = demo_day.live_links(settings.database_url, settings.secret_key, service_date)
    order_number, path = links[MINE]
    caught: list[mailbox.Caught] = []
    mail = mailbox.start(demo_folder / "mailbox", free_port(), caught.append)
    port = free_port()
    env = {
        "DOORSTEP_SMTP_URL": f"smtp://127.0.0.1:{mail.port}?starttls=0",
        "DOORSTEP_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    try:
        with (
            background_server(settings, env=env, port=port) as base,
            _notify_worker(settings, env),
        ):
            _the_day(base, demo_folder, browser, path, order_number, service_date, caught)
    finally:
        mail.stop()


def _the_day(
    base: str,
    folder: Path,
    browser: Browser,
    path: str,
    order_number: str,
    service_date: date,
    caught: list[mailbox.Caught],
) -> None:
    page = _phone(browser)
    # Before departure: the promised window, no ETA yet.
    page.goto(f"{base}{path}")
    assert "planned for" in page.locator("h1").inner_text()
    assert page.locator(".window").is_visible()
    assert page.locator(".eta").count() == 0

    driver = LiveDriver(folder / LIVE_DRIVER, base, LIVE_DRIVER, DEMO_PASSWORD)
    try:
        driver.sync()
        route = driver.open_stops()
        assert route[MINE]["order_number"] == order_number
        mine = route[MINE]

        # The driver works the stops before this one; the page counts down.
        seen: list[tuple[int, int]] = []
        for stop in route[:MINE]:
            driver.approach(stop, steps=3)
            driver.deliver(stop)
            page.reload()
            seen.append(_eta(page))
        assert [before for _, before in seen] == [2, 1, 0], seen
        assert seen[-1][0] <= seen[0][0], seen
        assert "Your driver is nearly there" in page.locator("h1").inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "e2e-arriving.png"), full_page=True)

        # On the way to this door the positions tighten the estimate itself.
        far = _eta_json(base, path)
        driver.approach(mine, steps=4)
        near = _eta_json(base, path)
        assert near["at"] < far["at"], (far, near)

        # "Arriving soon" reached the recipient's mailbox, with their link.
        # Behind the route's "out for delivery" messages in the outbox: a minute or so
        # on a busy machine.
        soon = _wait_for(
            "the arriving-soon e-mail",
            lambda: _mail(caught, "arriving soon", order_number),
            MAIL_WAIT_S,
        )
        assert soon[0].tracking_url == f"{base}{path}"
        assert soon[0].path.exists()

        # Delivered with a photo: the page shows it and the proof verifies.
        assert driver.deliver(mine)
    finally:
        driver.close()
    page.reload()
    assert page.locator("h1").inner_text() == "Your parcel was delivered."
    photo = page.locator("img.photo")
    assert photo.evaluate("img => img.complete && img.naturalWidth") > 0
    assert "Proof verified" in page.locator("#proof").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "e2e-delivered.png"), full_page=True)
    _wait_for("the delivered e-mail", lambda: _mail(caught, "delivered", order_number), MAIL_WAIT_S)

    # The recipient says it never came.
    page.select_option("#problem-kind", "not_received")
    page.fill("#problem-text", "Nothing at the door when I got home.")
    page.click("#problem button")
    assert "Customer service" in page.locator("body").inner_text()

    # Support finds it in the dispute queue, the proof's files cited as evidence.
    support = _token(base, "support")
    disputes = requests.get(f"{base}/api/v1/disputes", headers=support, timeout=10).json()
    (dispute,) = [d for d in disputes["items"] if d["opened_via"] == "recipient"]
    assert dispute["reason"] == "not_received"
    proof = requests.get(
        f"{base}/api/v1/stops/{dispute['stop_id']}/proof", headers=support, timeout=10
    ).json()
    assert proof["stop"]["order_number"] == order_number
    photos = [f["sha256"] for f in proof["proof"]["files"] if f["kind"] == "photo"]
    assert photos
    assert all(any(sha in c for c in dispute["evidence_cited"]) for sha in photos)
    desk = browser.new_context(viewport={"width": 1366, "height": 800}, locale="en-US")
    console = desk.new_page()
    login(console, base, "support")
    console.goto(f"{base}/console/disputes")
    row = console.locator("tr", has_text=order_number)
    assert "the recipient" in row.inner_text()
    assert "not received" in row.inner_text()
    desk.close()

    # Reconciliation: the day's promise figures and the 30-day trend.
    dispatch = _token(base, "dispatch")
    day = service_date.isoformat()
    summary = requests.get(
        f"{base}/api/v1/reconciliation/summary?date={day}", headers=dispatch, timeout=10
    ).json()
    (total,) = [r for r in summary["rows"] if r["driver"] == "*" and r["depot"] == "*"]
    assert total["on_time_rate"] == 1.0, total
    assert total["first_attempt_success_rate"] == 1.0, total
    # The figures are there; a lead of 10 minutes needs a drive longer than this test's.
    assert {"eta_mae_60", "eta_mae_30", "eta_mae_10"} <= total.keys()
    trend = requests.get(
        f"{base}/api/v1/reconciliation/trend?date={day}", headers=dispatch, timeout=10
    ).json()
    assert len(trend["points"]) == 30
    assert trend["points"][-1]["date"] == day
    assert trend["points"][-1]["on_time_rate"] == 1.0
