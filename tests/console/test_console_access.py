"""Console access: form login with the API's accounts and throttling, the session
cookie, CSRF on every form, and what each role may see."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.db.models import User
from tests.conftest import World
from tests.console.pages import csrf_of, error_code, log_in, post_form


def test_dispatch_and_support_land_on_their_own_start_pages(
    client: FlaskClient, world: World
) -> None:
    assert log_in(client, "dispatcher").headers["Location"] == "/console/day"
    other = client.application.test_client()
    assert log_in(other, "support").headers["Location"] == "/console/search"


def test_the_session_cookie_is_http_only_same_site_and_console_scoped(
    client: FlaskClient, world: World
) -> None:
    response = log_in(client, "dispatcher")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "doorstep_console" in h)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/console" in cookie


def test_a_wrong_password_is_refused_and_then_throttled(client: FlaskClient, world: World) -> None:
    for _ in range(5):
        refused = log_in(client, "dispatcher", "wrong")
        assert (refused.status_code, error_code(refused)) == (401, "invalid_credentials")
        assert "username or password is wrong" in refused.get_data(as_text=True)
    throttled = log_in(client, "dispatcher", "pw")
    assert (throttled.status_code, error_code(throttled)) == (429, "rate_limited")
    assert "Retry-After" in throttled.headers


def test_drivers_are_sent_to_their_app(client: FlaskClient, world: World) -> None:
    response = log_in(client, "driver_a")
    assert (response.status_code, error_code(response)) == (403, "console_not_for_drivers")
    assert client.get("/console/day").status_code == 302


def test_pages_need_a_login_and_come_back_after_it(client: FlaskClient, world: World) -> None:
    response = client.get("/console/summary?date=2026-11-24")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    token = csrf_of(client)
    back = client.post(
        "/console/login",
        data={
            "csrf_token": token,
            "username": "dispatcher",
            "password": "pw",
            "next": "/console/summary?date=2026-11-24",
        },
    )
    assert back.headers["Location"] == "/console/summary?date=2026-11-24"


def test_login_never_redirects_off_the_console(client: FlaskClient, world: World) -> None:
    token = csrf_of(client)
    for target in (
        "https://evil.example/",
        "//evil.example/console",
        "/api/v1/disputes",
        "/console/\\evil.example",
    ):
        fresh = client.application.test_client()
        token = csrf_of(fresh)
        response = fresh.post(
            "/console/login",
            data={"csrf_token": token, "username": "support", "password": "pw", "next": target},
        )
        assert response.headers["Location"] == "/console/search", target


def test_a_form_without_the_csrf_token_is_refused(client: FlaskClient, world: World) -> None:
    log_in(client, "dispatcher")
    response = client.post("/console/exceptions/decide", data={"decision": "accept"})
    assert (response.status_code, error_code(response)) == (400, "csrf_failed")
    forged = client.post(
        "/console/exceptions/decide",
        data={"decision": "accept", "csrf_token": "forged"},
    )
    assert (forged.status_code, error_code(forged)) == (400, "csrf_failed")


def test_a_form_posted_from_another_site_is_refused(client: FlaskClient, world: World) -> None:
    log_in(client, "dispatcher")
    token = csrf_of(client, "/console/search")
    response = client.post(
        "/console/logout",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert (response.status_code, error_code(response)) == (403, "cross_origin")


def test_logging_out_ends_the_session(client: FlaskClient, world: World) -> None:
    log_in(client, "support")
    assert post_form(client, "/console/logout", {}).status_code == 302
    assert client.get("/console/search").status_code == 302


def test_support_cannot_work_the_exception_queue(client: FlaskClient, world: World) -> None:
    log_in(client, "support")
    for path in ("/console/day", "/console/exceptions", "/console/summary"):
        response = client.get(path)
        assert (response.status_code, error_code(response)) == (403, "forbidden"), path
    decided = post_form(
        client, "/console/exceptions/decide", {"decision": "accept", "items": "1:no_outcome"}
    )
    assert decided.status_code == 403


def test_a_deactivated_account_loses_the_console_at_once(
    client: FlaskClient, world: World, session: Session
) -> None:
    log_in(client, "dispatcher")
    assert client.get("/console/day").status_code == 200
    user = session.get(User, world.users["dispatcher"])
    assert user is not None
    user.is_active = False
    session.commit()
    assert client.get("/console/day").status_code == 302


def test_console_pages_forbid_inline_code_framing_and_outside_assets(
    client: FlaskClient, world: World
) -> None:
    log_in(client, "dispatcher")
    response = client.get("/console/day")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    html = response.get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert " style=" not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_bad_query_strings_get_a_clear_error_page(client: FlaskClient, world: World) -> None:
    log_in(client, "dispatcher")
    for path, status, code in (
        ("/console/day?date=yesterday", 422, "validation_error"),
        ("/console/exceptions?depot=0", 422, "validation_error"),
        ("/console/exceptions?depot=999", 404, "not_found"),
        ("/console/exceptions?kind=nonsense", 422, "validation_error"),
        ("/console/deliveries/123456", 404, "not_found"),
        ("/console/nowhere", 404, "not_found"),
    ):
        response = client.get(path)
        assert (response.status_code, error_code(response)) == (status, code), path
        assert response.mimetype == "text/html"
