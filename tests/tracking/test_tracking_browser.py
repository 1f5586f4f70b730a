"""A recipient's day on a phone-sized Chromium (390 x 844): before departure,
arriving (next stop, the driver's position), delivered with the photo and a proof
that verifies, failed and then rescheduled. Screenshots: <SCREENSHOTS>/tracking-*.png
(DOORSTEP_SCREENSHOTS=docs/screenshots refreshes the ones docs/tracking.md shows).

The page is served by a real HTTP server (werkzeug's, in a thread) around the same
app the test arranges through, so the app's injected clock holds for both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from sqlalchemy import delete
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from backend.admin.settings import change_settings
from backend.auth.tokens import Principal
from backend.config import Settings
from backend.db.models import DriverPosition, StopEta
from backend.db.session import scope_to_tenant
from backend.domain.roles import Role
from backend.tracking import tokens
from backend.tracking.requests import handle_request
from tests.browser import SCREENSHOTS
from tests.client.test_media import _camera_jpeg
from tests.conftest import World
from tests.sync.helpers import Device, files_by_hash, png, ref
from tests.tracking.conftest import NOW, Day

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        timezone_id="UTC",
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"tracking-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_recipients_day_on_a_phone(
    phone: Page,
    served: str,
    session: Session,
    world: World,
    day: Day,
    device: Device,
    settings: Settings,
) -> None:
    page = phone
    page.goto(f"{served}/t/{day.token}")
    assert "planned for" in page.locator("h1").inner_text()
    assert page.locator(".window").is_visible()
    _shot(page, "planned")

    # Arriving: the driver started, and this stop is next.
    device.sync([device.event(day.stops[0], "arrived")])
    scope_to_tenant(session, world.org_id)
    # The sync already estimated the stop (backend.eta); this test sets its own ETA.
    session.execute(delete(StopEta).where(StopEta.stop_id == day.mine))
    session.add(
        StopEta(
            org_id=world.org_id,
            stop_id=day.mine,
            eta_at=NOW + timedelta(minutes=7),
            stops_before=0,
            computed_at=NOW,
        )
    )
    session.add(
        DriverPosition(
            org_id=world.org_id,
            driver_id=world.users["driver_a"],
            lat=47.6135,
            lon=-122.3305,
            accuracy_m=5.0,
            recorded_at=NOW,
            received_at=NOW,
        )
    )
    session.commit()
    page.reload()
    assert page.locator("h1").inner_text() == "Your driver is nearly there."
    assert "you are next" in page.locator(".eta").inner_text()
    assert "km away" in page.locator(".position").inner_text()
    _shot(page, "arriving")

    # Delivered, the organization shows photos, the proof verifies.
    change_settings(
        session, world.org_id, actor="t", actor_user_id=None, changes={"tracking_show_photo": True}
    )
    photo = _camera_jpeg((640, 480))
    signature = png("signature")
    payload = {
        "recipient_name": "A",
        "geo": {"lat": 47.612, "lon": -122.332, "accuracy_m": 6.0, "fixed_at": None},
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    event = device.event(
        day.mine,
        "delivered",
        payload=payload,
        evidence=[ref(signature), ref(photo, "photo", "image/jpeg")],
    )
    device.upload_owed(device.sync([event]).get_json(), files_by_hash(photo, signature))
    page.reload()
    assert page.locator("h1").inner_text() == "Your parcel was delivered."
    assert "At the front door" in page.locator("#delivered").inner_text()
    image = page.locator("img.photo")
    assert image.evaluate("img => img.complete && img.naturalWidth") in (480, 640)
    assert "Proof verified" in page.locator("#proof").inner_text()
    _shot(page, "delivered")

    # Another order of the day fails; its recipient asks for another day, back office
    # re-plans it, and the page shows the new day.
    scope_to_tenant(session, world.org_id)
    other = tokens.issue(session, world.org_id, day.stops[2], settings.secret_key, NOW)
    session.commit()
    device.sync([device.event(day.stops[2], "failed", payload={"reason": "recipient_absent"})])
    page.goto(f"{served}/t/{other}")
    assert "Nobody was there" in page.locator("#failed").inner_text()
    assert "contact you" in page.locator("#failed").inner_text()
    _shot(page, "failed")
    page.fill("#reschedule-date", "2026-11-29")  # a Sunday
    page.click("#reschedule button")
    assert "we do not deliver on Sundays" in page.locator("#reschedule .error").inner_text()
    page.fill("#reschedule-date", "2026-11-27")
    page.click("#reschedule button")
    assert "we will confirm the new day" in page.locator(".notice").inner_text()
    from sqlalchemy import select

    from backend.db.models import RecipientRequest

    session.rollback()
    request_id = session.scalars(select(RecipientRequest.id)).one()
    session.rollback()  # handling writes: its transaction starts with the write lock
    dispatcher = Principal(
        world.users["dispatcher"], world.org_id, Role.DISPATCHER, "dispatcher", None
    )
    handle_request(session, dispatcher, request_id, NOW, replan=True)
    page.goto(f"{served}/t/{other}")
    assert "Friday 27 November" in page.locator("h1").inner_text()
    assert "We will try again on Friday 27 November" in page.locator("#failed").inner_text()
    _shot(page, "rescheduled")


def test_in_a_browser_the_pages_own_form_posts_no_referer_leaves_and_injected_script_is_blocked(
    phone: Page, served: str, day: Day
) -> None:
    page = phone
    referers: list[str] = []
    page.on("request", lambda request: referers.append(request.headers.get("referer", "")))
    page.goto(f"{served}/t/{day.token}")
    # The page's own form, as Chromium sends it (Origin: null under no-referrer,
    # Sec-Fetch-Site: same-origin), is accepted.
    page.fill("#instructions-text", "Porch, please")
    page.click("#instructions button[type=submit]")
    page.wait_for_url("**done=instructions**")
    assert "your driver will see your instructions" in page.content()
    # The stylesheet, the script and the redirect went out without the link in a Referer.
    assert len(referers) >= 3
    assert referers == [""] * len(referers)
    # Markup that got into the page (as an escaping bug would let it) runs nothing.
    page.evaluate(
        """() => {
          const s = document.createElement('script');
          s.textContent = 'window.injected = 1';
          document.body.appendChild(s);
          document.body.insertAdjacentHTML('beforeend', '<img src=x onerror="window.injected=2">');
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.injected") is None
