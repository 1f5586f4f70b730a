"""A new organization's admin runs it from the console, in a real browser.

The organization is made the operator's way (`doorstep migrate`, `doorstep org create`
through backend.cli.main) in a database of this module's own, never the shared demo
day; the server runs in this process on a SetClock, so the TOTP codes the test types
are computed from the server's own "now". Each step is checked on the page and through
the API, and leaves a screenshot for docs/admin.md.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from backend.app import create_app
from backend.cli import main as doorstep
from backend.config import Settings, load_settings
from backend.db.session import Database
from backend.domain.clock import SetClock
from tests.client.conftest import LiveServer
from tests.console.helpers import api_answer, login
from tests.factories import SERVICE_DATE

Shot = Callable[..., Path]

ORGANIZATION = "Harbour Parcels"
ADMIN = "harbour_admin"
FIRST_PASSWORD = "lantern-orbit-cactus-9"  # the operator's, to be changed at once
ADMIN_PASSWORD = "quiet-harbour-violet-44"
DRIVER_PASSWORD = "copper-meadow-kettle-71"
DRIVERS = ("harbour_ada", "harbour_ben", "harbour_cy")
# A new driver has no manifest yet: this answer means the token got past authentication.
TOKEN_ACCEPTED = (404, "not_found")
MAIN_NAV = "nav[aria-label=Main]"
ORG_NAV = "nav[aria-label=Organization]"


@dataclass(frozen=True)
class OrgServer:
    url: str
    clock: SetClock


@pytest.fixture(scope="module")
def org_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgServer]:
    """A fresh database holding one organization made by the CLI, served in-process."""
    folder = tmp_path_factory.mktemp("admin-org")
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{folder / 'doorstep.db'}",
        storage_dir=folder / "evidence",
        secrets_dir=folder / "secrets",
    )
    database = Database(settings.database_url)
    clock = SetClock(datetime.combine(SERVICE_DATE, time(8, 0), UTC))
    app = create_app(settings, database, clock)
    server = LiveServer(app)
    try:
        _operator_creates_the_organization(app, settings)
        server.start()
        yield OrgServer(server.url, clock)
    finally:
        server.stop()
        database.dispose()


def _operator_creates_the_organization(app: Flask, settings: Settings) -> None:
    """`doorstep migrate` and `doorstep org create`, as the operator types them."""
    output = io.StringIO()
    # The commands read backend.clock like the server: inside the app's context they
    # read the test's clock, so the audit log lists everything in the order it happened.
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(output),
        app.app_context(),
    ):
        patch.setenv("DATABASE_URL", settings.database_url)
        patch.setenv("DOORSTEP_STORAGE_DIR", str(settings.storage_dir))
        patch.setenv("DOORSTEP_SECRETS_DIR", str(settings.secrets_dir))
        patch.setattr("sys.stdin", io.StringIO(f"{FIRST_PASSWORD}\n"))
        migrated = doorstep(["migrate"])
        created = doorstep(
            [
                *("org", "create", ORGANIZATION, "--timezone", "Europe/Paris"),
                *("--admin", ADMIN, "--password-stdin"),
            ]
        )
    assert (migrated, created) == (0, 0), output.getvalue()
    assert f"admin: {ADMIN}" in output.getvalue()


def _token(base: str, username: str, password: str, device_id: str) -> dict[str, Any]:
    body = {"username": username, "password": password, "device_id": device_id}
    status, answer = api_answer(base, "POST", "/api/v1/auth/token", body=body)
    assert status == 200, answer
    tokens: dict[str, Any] = answer
    return tokens


def _driver_on_a_phone(base: str, username: str, one_time: str, device_id: str) -> dict[str, Any]:
    """The driver logs in on ``device_id`` and chooses a password: a token that works."""
    tokens = _token(base, username, one_time, device_id)
    assert tokens["must_change_password"] is True
    changed = {"current_password": one_time, "new_password": DRIVER_PASSWORD}
    status, answer = api_answer(
        base, "POST", "/api/v1/auth/password", tokens["access_token"], changed
    )
    assert status == 200, answer
    assert _mine(base, tokens["access_token"]) == TOKEN_ACCEPTED
    return tokens


def _mine(base: str, access_token: str) -> tuple[int, str]:
    """The driver's own manifests: the status, and the error code of a refusal."""
    status, answer = api_answer(base, "GET", "/api/v1/manifests/mine", access_token)
    return status, str((answer or {}).get("code", ""))


def _upload(page: Page, csv: str) -> None:
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "drivers.csv", "mimeType": "text/csv", "buffer": csv.encode()}],
    )
    page.click("form[aria-label='Import people'] button[type=submit]")


def _first_sign_in(page: Page, base: str) -> str:
    """The admin signs in with the operator's password and must choose their own."""
    login(page, base, ADMIN, FIRST_PASSWORD)
    expect(page.locator("h1")).to_have_text("Change your password")
    page.fill("input[name=current_password]", FIRST_PASSWORD)
    page.fill("input[name=new_password]", ADMIN_PASSWORD)
    page.fill("input[name=repeat_password]", ADMIN_PASSWORD)
    page.click("form[aria-label='Change your password'] button[type=submit]")
    expect(page.locator(MAIN_NAV)).to_contain_text("People")
    return str(_token(base, ADMIN, ADMIN_PASSWORD, "admin-laptop")["access_token"])


def _create_a_depot(page: Page, base: str, admin_token: str, shot: Shot) -> None:
    page.click(f"{MAIN_NAV} >> text=Organization")
    page.click(f"{ORG_NAV} >> text=Depots")
    expect(page.locator("table[aria-label=Depots]")).to_contain_text("No depots yet.")
    form = page.locator("form:has(button:has-text('Create depot'))")
    form.locator("input[name=name]").fill("Ballard")
    form.locator("input[name=address]").fill("1400 NW Leary Way")
    form.locator("input[name=lat]").fill("47.6636")
    form.locator("input[name=lon]").fill("-122.3765")
    form.locator("input[name=timezone]").fill("America/Los_Angeles")
    form.locator("button[type=submit]").click()
    row = page.locator("tr[data-depot='Ballard']")
    expect(row).to_contain_text("1400 NW Leary Way")
    expect(row).to_contain_text("in service")
    shot(page, "depot-created", full_page=False)
    status, answer = api_answer(base, "GET", "/api/v1/admin/depots", admin_token)
    assert status == 200, answer
    assert [(d["name"], d["timezone"], d["retired_at"]) for d in answer["items"]] == [
        ("Ballard", "America/Los_Angeles", None)
    ]


def _import_drivers(page: Page, base: str, admin_token: str, shot: Shot) -> dict[str, str]:
    """A CSV with a bad line adds nobody; fixed, it adds everyone: their one-time passwords."""
    page.click(f"{MAIN_NAV} >> text=People")
    expect(page.locator("h1")).to_have_text("People")
    _upload(page, f"username,role,full_name\n{DRIVERS[0]},driver,Ada\n{DRIVERS[1]},pilot,Ben\n")
    expect(page.locator("[data-line='3']")).to_contain_text("unknown role 'pilot'")
    expect(page.locator("[data-line='2']")).to_have_count(0)
    expect(page.locator("table[aria-label='People']")).not_to_contain_text(DRIVERS[0])
    shot(page, "people-import-refused")
    status, answer = api_answer(base, "GET", "/api/v1/admin/users", admin_token)
    assert status == 200, answer
    assert DRIVERS[0] not in str(answer)

    names = ("Ada Lovelace", "Ben Okafor", "Cy Twombly")
    rows = "".join(f"{user},driver,{name}\n" for user, name in zip(DRIVERS, names, strict=True))
    _upload(page, f"username,role,full_name\n{rows}")
    created = page.locator("table[aria-label='One-time passwords'] tbody tr")
    expect(created).to_have_count(len(DRIVERS))
    shot(page, "people-imported")
    one_time = {
        created.nth(n).locator("td").nth(0).inner_text(): created.nth(n)
        .locator("code")
        .inner_text()
        for n in range(len(DRIVERS))
    }
    assert sorted(one_time) == sorted(DRIVERS)
    return one_time


def _deactivate_a_driver(page: Page, base: str, username: str, one_time: str, shot: Shot) -> None:
    """A deactivated driver's token, good a moment ago, is refused on its next call."""
    tokens = _driver_on_a_phone(base, username, one_time, "phone-ada")
    page.click(f"{MAIN_NAV} >> text=People")
    page.click(f"table[aria-label='People'] >> text={username}")
    expect(page.locator("h1")).to_have_text(username)
    page.click("button:has-text('Deactivate')")
    expect(page.locator(".flash.success")).to_contain_text("deactivated")
    expect(page.locator("button:has-text('Reactivate')")).to_be_visible()
    shot(page, "person-deactivated", full_page=False)
    assert _mine(base, tokens["access_token"]) == (401, "account_inactive")
    refreshed, _ = api_answer(
        base, "POST", "/api/v1/auth/refresh", body={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed == 401


def _revoke_a_device(page: Page, base: str, username: str, one_time: str, shot: Shot) -> None:
    """A lost phone's login ends at once: its access and refresh tokens are refused."""
    tokens = _driver_on_a_phone(base, username, one_time, "phone-lost")
    page.click(f"{MAIN_NAV} >> text=Organization")
    page.click(f"{ORG_NAV} >> text=Devices")
    row = page.locator("tr[data-device='phone-lost']")
    expect(row).to_contain_text(username)
    expect(row).to_contain_text("active")
    row.locator("button:has-text('Revoke')").click()
    row = page.locator("tr[data-device='phone-lost']")
    expect(row).to_contain_text("revoked")
    shot(page, "device-revoked", full_page=False)
    assert _mine(base, tokens["access_token"]) == (401, "token_revoked")
    refreshed, _ = api_answer(
        base, "POST", "/api/v1/auth/refresh", body={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed == 401
    # The driver is still welcome: a fresh login with the password works again.
    again = _token(base, username, DRIVER_PASSWORD, "phone-lost")
    assert _mine(base, again["access_token"]) == TOKEN_ACCEPTED


def _turn_on_two_factor(page: Page, clock: SetClock, shot: Shot) -> str:
    page.click(f"{MAIN_NAV} >> text=Organization")
    page.click(f"{ORG_NAV} >> text=Your two-factor sign-in")
    expect(page.locator("#two-factor-status")).to_contain_text("Off:")
    page.click("button:has-text('Set up two-factor sign-in')")
    secret = page.inner_text("#totp-secret").strip()
    assert f"secret={secret}" in page.inner_text("#totp-uri")
    shot(page, "two-factor-enrol", full_page=False)
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    page.click("button:has-text('Confirm')")
    expect(page.locator("#two-factor-status")).to_contain_text("On:")
    return secret


def _sign_in_with_a_code(page: Page, base: str, clock: SetClock, secret: str, shot: Shot) -> None:
    page.click("button:has-text('Log out')")
    expect(page.locator("input[name=username]")).to_be_visible()
    login(page, base, ADMIN, ADMIN_PASSWORD)
    expect(page).to_have_url(f"{base}/console/login/code")
    expect(page.locator(MAIN_NAV)).to_have_count(0)
    # The next window: the code that confirmed the enrolment is spent.
    clock.advance(timedelta(seconds=30))
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    shot(page, "login-code", full_page=False)
    page.click("button:has-text('Sign in')")
    expect(page.locator(MAIN_NAV)).to_contain_text("People")
    expect(page.locator(".who")).to_contain_text("admin")
    body = {"username": ADMIN, "password": ADMIN_PASSWORD, "device_id": "admin-laptop"}
    status, answer = api_answer(base, "POST", "/api/v1/auth/token", body=body)
    assert (status, answer["code"]) == (401, "totp_code_required")


def test_an_admin_sets_up_a_new_organization_in_the_browser(
    page: Page, org_server: OrgServer, screenshot: Shot
) -> None:
    base, clock = org_server.url, org_server.clock
    admin_token = _first_sign_in(page, base)
    _create_a_depot(page, base, admin_token, screenshot)
    one_time = _import_drivers(page, base, admin_token, screenshot)
    _deactivate_a_driver(page, base, DRIVERS[0], one_time[DRIVERS[0]], screenshot)
    _revoke_a_device(page, base, DRIVERS[1], one_time[DRIVERS[1]], screenshot)
    secret = _turn_on_two_factor(page, clock, screenshot)
    _sign_in_with_a_code(page, base, clock, secret, screenshot)

    page.click(f"{MAIN_NAV} >> text=Audit log")
    log = page.locator("table[aria-label='Audit log'] tbody")
    for action in ("depot.create", "user.deactivate", "device.revoke", "user.totp_enrol"):
        expect(log).to_contain_text(action)
    expect(log.locator("tr").first).to_contain_text("user.totp_enrol")
    screenshot(page, "audit-log", full_page=False)
