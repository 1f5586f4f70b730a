"""An admin runs their people in a real browser: imports drivers from a CSV with a
mistake, fixes it, and deactivates one, whose token stops working at once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.console.helpers import login

Shot = Callable[..., Path]


def _status_of(base: str, path: str, token: str) -> tuple[int, str]:
    """GET ``path`` with ``token``: the status and the error code (if any)."""
    assert base.startswith("http://127.0.0.1:")
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(f"{base}{path}", headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, ""
    except urllib.error.HTTPError as exc:
        body: Any = json.load(exc)
        return exc.code, str(body.get("code", ""))


def _token(base: str, username: str, password: str) -> str:
    assert base.startswith("http://127.0.0.1:")
    body = json.dumps({"username": username, "password": password, "device_id": "phone-1"})
    request = urllib.request.Request(  # noqa: S310 - loopback, checked above
        f"{base}/api/v1/auth/token",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
        token: str = json.load(response)["access_token"]
        return token


def test_an_admin_imports_drivers_fixes_a_bad_line_and_deactivates_one(
    page: Page, console_url: str, screenshot: Shot
) -> None:
    tag = uuid.uuid4().hex[:6]  # the day's database is shared by the session's tests
    names = [f"driver_{tag}_{n}" for n in range(1, 4)]
    login(page, console_url, "admin")
    page.click("nav >> text=People")
    expect(page.locator("h1")).to_have_text("People")

    bad = f"username,role,full_name\n{names[0]},driver,Ada\n{names[1]},pilot,Ben\n"
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "drivers.csv", "mimeType": "text/csv", "buffer": bad.encode()}],
    )
    page.click("form[aria-label='Import people'] button[type=submit]")
    expect(page.locator("[data-line='3']")).to_contain_text("unknown role 'pilot'")
    expect(page.locator("table[aria-label='People']")).not_to_contain_text(names[0])
    screenshot(page, "people-import-refused")

    good = "".join(f"{name},driver,Driver {n}\n" for n, name in enumerate(names, start=1))
    page.set_input_files(
        "input[name=file]",
        files=[
            {
                "name": "drivers.csv",
                "mimeType": "text/csv",
                "buffer": f"username,role,full_name\n{good}".encode(),
            }
        ],
    )
    page.click("form[aria-label='Import people'] button[type=submit]")
    passwords = page.locator("table[aria-label='One-time passwords'] tbody tr")
    expect(passwords).to_have_count(3)
    one_time = passwords.nth(0).locator("code").inner_text()
    screenshot(page, "people-imported")

    token = _token(console_url, names[0], one_time)
    assert _status_of(console_url, "/api/v1/manifests/mine", token) == (
        403,
        "password_change_required",
    )
    page.click(f"table[aria-label='People'] >> text={names[0]}")
    page.click("button:has-text('Deactivate')")
    expect(page.locator(".flash.success")).to_contain_text("deactivated")
    assert _status_of(console_url, "/api/v1/manifests/mine", token) == (401, "account_inactive")

    page.click("nav >> text=Audit log")
    expect(page.locator("table[aria-label='Audit log'] tbody tr").first).to_contain_text(
        "user.deactivate"
    )
    screenshot(page, "audit-log", full_page=False)
