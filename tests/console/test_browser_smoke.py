"""The browser-test machinery itself works: Chromium reaches the server, the day has work."""

from __future__ import annotations

import json
from datetime import date

from playwright.sync_api import Page

from tests.console.helpers import api_get, api_token


def test_the_browser_reaches_the_server(page: Page, console_url: str) -> None:
    response = page.goto(f"{console_url}/healthz")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.inner_text("body")) == {"status": "ok"}


def test_the_day_leaves_work_for_the_dispatcher(console_url: str, console_date: date) -> None:
    token = api_token(console_url, "dispatch")
    queue = api_get(
        console_url,
        f"/api/v1/reconciliation?date={console_date.isoformat()}&open_only=true",
        token,
    )
    assert queue["date"] == console_date.isoformat()
    assert queue["open_exceptions"] > 0, queue
    assert queue["stops"], queue
