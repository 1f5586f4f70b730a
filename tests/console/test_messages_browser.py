"""The template editor's preview follows what the admin types, in a real browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import NotificationTemplate
from backend.notifications.rendering import SAMPLE_CONTEXT
from tests.client.conftest import LiveServer
from tests.conftest import World
from tests.console.helpers import login


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # The page's script is what is under test; one database is enough.
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def server(app: Flask) -> Iterator[LiveServer]:
    live = LiveServer(app)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_the_preview_follows_the_form_and_shows_why_a_template_cannot_be_used(
    page: Page,
    server: LiveServer,
    world: World,
    session: Session,
    screenshot: Callable[..., Path],
) -> None:
    login(page, server.url, "admin", "pw")
    page.goto(f"{server.url}/console/admin/messages/delivered")
    sms = page.locator("#part-sms")
    preview = page.locator("[data-live-preview-of]")
    sms.fill("Parcel {{ order_number }} is here: {{ tracking_url }}")
    # No button pressed: the server rendered what was typed with the sample values.
    expect(preview.locator('[data-part="sms"]')).to_have_text(
        f"Parcel A-1042 is here: {SAMPLE_CONTEXT['tracking_url']}"
    )
    sms.fill("Parcel {% if %}")
    expect(preview.locator('[data-preview-error="sms"]')).to_contain_text("does not render")
    screenshot(page, "message-template")
    assert session.scalars(select(NotificationTemplate)).all() == []
