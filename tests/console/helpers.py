"""Plain helpers for the console's browser tests: log in through the page, or use the API.

The API helpers let a test pick its subject (a delivered stop, an open exception) and
check what the browser changed behind its back, without scraping pages for either.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# Every seeded demo user shares this password; conftest keeps DOORSTEP_DEMO_PASSWORD out
# of the environment while the day is seeded, so it is always this one.
DEMO_PASSWORD = "demo"


def login(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the console's login form and wait until it has let us in."""
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # Waiting for the URL to leave /login (not just for the click) settles the session
    # cookie before the test's next goto. A refused login re-renders /login: say so
    # with the page's text instead of a bare timeout.
    try:
        page.wait_for_url(lambda url: not urlsplit(url).path.endswith("/login"))
    except PlaywrightTimeoutError:
        text = " ".join(page.inner_text("body").split())[:300]
        raise AssertionError(f"login as {username!r} stayed on {page.url}: {text}") from None


def _open(method: str, url: str, token: str = "", body: Any = None) -> http.client.HTTPResponse:
    if not url.startswith("http://127.0.0.1:"):
        # The tests only ever talk to their own background server.
        raise ValueError(f"not the test server: {url}")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - checked above
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=15)  # noqa: S310 - checked above
    return response


def _call(method: str, url: str, token: str = "", body: Any = None) -> Any:
    with contextlib.closing(_open(method, url, token, body)) as response:
        return json.load(response)


def api_token(base: str, username: str) -> str:
    """An access token for ``username``; it lives 15 minutes, so fetch one per test."""
    body = {"username": username, "password": DEMO_PASSWORD, "device_id": "console-test"}
    token: str = _call("POST", f"{base}/api/v1/auth/token", body=body)["access_token"]
    return token


def api_get(base: str, path: str, token: str) -> Any:
    """GET ``path`` (starting with /api/) as the token's user: the parsed JSON body."""
    return _call("GET", f"{base}{path}", token)


def api_answer(
    base: str, method: str, path: str, token: str = "", body: Any = None
) -> tuple[int, Any]:
    """Call ``path`` (starting with /api/): the status and the parsed JSON body (None if
    there is none), refusals included, so a test asserts on a 401's code as on a 200."""
    try:
        with contextlib.closing(_open(method, f"{base}{path}", token, body)) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw else None
