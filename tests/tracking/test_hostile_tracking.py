"""Hostile input to everything a recipient can reach without a login (the tracking
page, its JSON and forms, the unsubscribe page) is a 4xx with a stable code, never a
500, never half-written; what they wrote comes back escaped; the link stays out of
Referer headers and the page's policy blocks injected script.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.config import Settings
from backend.db.models import Dispute, NotificationOptOut, RecipientRequest, Stop
from backend.db.session import scope_to_tenant
from backend.notifications.service import unsubscribe_token
from backend.tracking.limits import TrackingLimiter
from backend.tracking.logs import redact
from backend.tracking.page import CONTENT_SECURITY_POLICY
from backend.tracking.routes import LIMITER
from tests.api.test_hostile_input import DEEP, LONE_SURROGATE, assert_json_error
from tests.conftest import World
from tests.console.pages import error_code, log_in
from tests.sync.helpers import Device, files_by_hash, png, ref
from tests.tracking.conftest import Day

ACTIONS = ("instructions", "reschedule", "rating", "problem")
RTL_OVERRIDE = "\u202e"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _deliver(day: Day, device: Device) -> None:
    signature = png("sig")
    body = device.sync([device.event(day.mine, "delivered", evidence=[ref(signature)])]).get_json()
    device.upload_owed(body, files_by_hash(signature))


def _requests(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(RecipientRequest)) or 0


def _code(response: TestResponse) -> str | None:
    """The stable code of an error answer, from an HTML page or a JSON body."""
    if response.is_json:
        return str(response.get_json()["code"])
    return error_code(response)


def _raw(client: FlaskClient, path: str, body: str | bytes, content_type: str) -> TestResponse:
    return client.post(path, data=body, headers={"Content-Type": content_type})


# --- Malformed, oversized and mistyped bodies to the JSON actions.

BODIES: dict[str, tuple[str | bytes, str, str]] = {
    "broken JSON": ('{"text": ', "application/json", "malformed_body"),
    "a JSON array": ('["Porch"]', "application/json", "validation_error"),
    "a JSON string": ('"Porch"', "application/json", "validation_error"),
    "JSON null": ("null", "application/json", "validation_error"),
    "deep JSON": (DEEP, "application/json", "json_too_deep"),
    "a lone surrogate": (f'{{"text": {LONE_SURROGATE}}}', "application/json", "invalid_unicode"),
    "a NUL character": ('{"text": "Porch\\u0000"}', "application/json", "validation_error"),
    "a lone surrogate as a key": (
        f'{{{LONE_SURROGATE}: "x", "text": "Porch"}}',
        "application/json",
        "invalid_unicode",
    ),
    "an unknown field": ('{"text": "Porch", "admin": true}', "application/json", ""),
    "invalid UTF-8 bytes": (b'{"text": "\xff\xfe"}', "application/json", ""),
    "plain text": ("Porch", "text/plain", ""),
    "a form to the JSON API": ("text=Porch", "application/x-www-form-urlencoded", ""),
    "XML": ("<text>Porch</text>", "application/xml", ""),
}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_a_malformed_body_to_an_action_is_a_4xx_and_writes_nothing(
    client: FlaskClient, session: Session, day: Day, case: str
) -> None:
    body, content_type, code = BODIES[case]
    response = _raw(client, f"/api/v1/track/{day.token}/instructions", body, content_type)
    assert_json_error(response, code or None)
    assert _requests(session) == 0


def test_a_body_over_the_size_limit_is_413_and_writes_nothing(
    client: FlaskClient, session: Session, settings: Settings, day: Day
) -> None:
    text = "x" * (settings.max_content_length + 1)
    body = json.dumps({"text": text})
    response = _raw(client, f"/api/v1/track/{day.token}/instructions", body, "application/json")
    assert_json_error(response)
    assert response.status_code == 413
    page = client.post(f"/t/{day.token}/instructions", data={"instructions": text})
    assert page.status_code == 413
    assert error_code(page)
    assert _requests(session) == 0


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("instructions", {"text": ["a", "b"]}, "validation_error"),
        ("instructions", {"text": {"$ne": ""}}, "validation_error"),
        ("instructions", {"text": None}, "validation_error"),
        ("reschedule", {"date": 1.5}, "validation_error"),
        ("reschedule", {"date": "0001-01-01"}, "reschedule_date_past"),
        ("reschedule", {"date": "9999-12-31"}, "reschedule_too_far"),
        ("reschedule", {"date": "2026-11-30", "note": ["x"]}, "validation_error"),
        ("reschedule", {"date": {"y": 2026}}, "validation_error"),
        ("reschedule", {"date": "2026-11-30T00:00"}, "validation_error"),
        ("rating", {"stars": 2**70}, "integer_out_of_range"),
        ("problem", {"problem": ["damaged"]}, "invalid_problem"),
        ("problem", {"problem": {"x": 1}}, "invalid_problem"),
    ],
)
def test_values_of_the_wrong_type_are_refused_with_their_code(
    client: FlaskClient, session: Session, day: Day, action: str, body: Any, code: str
) -> None:
    response = client.post(f"/api/v1/track/{day.token}/{action}", json=body)
    assert_json_error(response, code)
    assert _requests(session) == 0


@pytest.mark.parametrize("stars", ["\u00b2", "\u0663", "\u2167", "5\u00b2", " 4 "])
def test_stars_written_with_other_digits_are_refused_or_read_never_a_500(
    client: FlaskClient, day: Day, device: Device, stars: str
) -> None:
    # "²" is a digit to str.isdigit() but not to int(): it must be refused, not crash.
    _deliver(day, device)
    for response in (
        client.post(f"/api/v1/track/{day.token}/rating", json={"stars": stars}),
        client.post(f"/t/{day.token}/rating", data={"stars": stars}),
    ):
        assert response.status_code in (201, 303, 409, 422), (stars, response.status_code)


def test_a_superscript_two_is_not_a_rating(
    client: FlaskClient, session: Session, day: Day, device: Device
) -> None:
    _deliver(day, device)
    response = client.post(f"/api/v1/track/{day.token}/rating", json={"stars": "\u00b2"})
    assert_json_error(response, "invalid_rating")
    page = client.post(f"/t/{day.token}/rating", data={"stars": "\u00b2"})
    assert page.status_code == 422
    assert error_code(page) == "invalid_rating"
    assert _requests(session) == 0


# --- Tokens of the wrong shape.

WRONG_TOKENS = [
    "a" * 23,
    "a" * 25,
    "a" * 4000,
    "é" * 24,
    "%C3%A9" * 24,
    "%00" * 8,
    "%E2%80%AE" + "a" * 23,  # an RTL override
    "AAAAAAAAAAAAAAAAAAAAAA%3D%3D",  # padding, which tokens never carry
    "..%2F..%2Fetc%2Fpasswd",
    "a" * 23 + "%0A",
]


@pytest.mark.parametrize("token", WRONG_TOKENS)
def test_a_token_of_the_wrong_shape_is_the_same_404_everywhere(
    client: FlaskClient, day: Day, token: str
) -> None:
    for path in (f"/api/v1/track/{token}", f"/api/v1/track/{token}/rating"):
        body = {"stars": 5}
        response = client.open(path, method="GET" if path.endswith(token) else "POST", json=body)
        assert_json_error(response, "not_found")
    page = client.get(f"/t/{token}")
    assert page.status_code == 404
    assert error_code(page) == "not_found"
    form = client.post(f"/t/{token}/instructions", data={"instructions": "Porch"})
    assert form.status_code == 404
    assert error_code(form) == "not_found"
    photo = client.get(f"/t/{token}/photos/{'a' * 64}")
    assert photo.status_code == 404
    unsubscribe = client.post(f"/u/{token}")
    assert unsubscribe.status_code == 404
    assert _code(unsubscribe) == "not_found"


# --- Methods.


def test_head_and_options_answer_without_a_body_or_a_write(
    client: FlaskClient, session: Session, day: Day
) -> None:
    for path in (f"/api/v1/track/{day.token}", f"/t/{day.token}"):
        head = client.head(path)
        assert head.status_code == 200
        assert head.data == b""
        assert head.headers["Referrer-Policy"] == "no-referrer"
        options = client.options(path)
        assert options.status_code == 200
        assert "GET" in options.headers["Allow"]
    for action in ACTIONS:
        options = client.options(f"/api/v1/track/{day.token}/{action}")
        assert options.status_code == 200
        assert "POST" in options.headers["Allow"]
    assert _requests(session) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/track/{token}"),
        ("DELETE", "/api/v1/track/{token}"),
        ("POST", "/api/v1/track/{token}"),
        ("GET", "/api/v1/track/{token}/rating"),
        ("PATCH", "/api/v1/track/{token}/instructions"),
        ("DELETE", "/t/{token}"),
        ("PUT", "/t/{token}/instructions"),
        ("GET", "/t/{token}/instructions"),
        ("POST", "/t/{token}/photos/" + "a" * 64),
        ("PUT", "/u/{token}"),
    ],
)
def test_a_method_the_address_does_not_take_is_405_with_a_code(
    client: FlaskClient, session: Session, day: Day, method: str, path: str
) -> None:
    response = client.open(path.format(token=day.token), method=method, json={})
    assert response.status_code == 405
    assert response.headers["Allow"]
    if path.startswith("/api/"):
        assert_json_error(response, "method_not_allowed")
    else:
        assert _code(response) == "method_not_allowed"
    assert _requests(session) == 0


# --- Replays: the same POST twice is either the same result or a clear 409.


def test_every_action_posted_twice_writes_once_or_says_409(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    reschedule = {"date": "2026-11-30", "note": "after 5pm"}
    first = client.post(f"/api/v1/track/{day.token}/reschedule", json=reschedule)
    assert first.status_code == 201
    again = client.post(f"/api/v1/track/{day.token}/reschedule", json=reschedule)
    assert_json_error(again, "request_already_open")
    assert again.status_code == 409
    _deliver(day, device)
    for action, body, code in (
        ("rating", {"stars": 5}, "already_rated"),
        ("problem", {"problem": "damaged"}, "dispute_already_open"),
    ):
        assert client.post(f"/api/v1/track/{day.token}/{action}", json=body).status_code == 201
        replay = client.post(f"/api/v1/track/{day.token}/{action}", json=body)
        assert replay.status_code == 409
        assert_json_error(replay, code)
        form_replay = client.post(f"/t/{day.token}/{action}", data=body)
        assert form_replay.status_code == 409
        assert error_code(form_replay) == code
    scope_to_tenant(session, world.org_id)
    assert session.scalar(select(func.count()).select_from(Dispute)) == 1
    kinds = sorted(session.scalars(select(RecipientRequest.kind)))
    assert kinds == ["problem", "rating", "reschedule"]


# --- What the recipient wrote comes back escaped: the page, the console, the JSON.


def test_script_in_instructions_is_escaped_on_the_page_and_in_the_console(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    sent = f"Gate {RTL_OVERRIDE}4411 {SCRIPT}"
    response = client.post(f"/t/{day.token}/instructions", data={"instructions": sent})
    assert response.status_code == 303
    page = client.get(f"/t/{day.token}").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
    # The JSON carries the text as text (the page's script sets textContent only).
    assert client.get(f"/api/v1/track/{day.token}").get_json()["instructions"].endswith(SCRIPT)
    scope_to_tenant(session, world.org_id)
    stop = session.get(Stop, day.mine)
    assert stop is not None
    assert RTL_OVERRIDE in stop.instructions
    session.rollback()
    log_in(client, "support")
    queue = client.get("/console/recipient-requests").get_data(as_text=True)
    assert "Gate" in queue
    assert "<script>alert" not in queue
    assert "<img src=x" not in queue
    delivery = client.get(f"/console/deliveries/{day.mine}").get_data(as_text=True)
    assert "<script>alert" not in delivery


def test_script_in_a_rating_comment_and_a_problem_is_escaped_in_the_console(
    client: FlaskClient, day: Day, device: Device
) -> None:
    _deliver(day, device)
    assert (
        client.post(
            f"/api/v1/track/{day.token}/rating", json={"stars": 1, "comment": SCRIPT}
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/v1/track/{day.token}/problem", json={"problem": "damaged", "text": SCRIPT}
        ).status_code
        == 201
    )
    page = client.get(f"/t/{day.token}").get_data(as_text=True)
    assert "<script>alert" not in page
    log_in(client, "support")
    for path in ("/console/recipient-requests", f"/console/deliveries/{day.mine}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path


# --- Cross-site posts, the Referer and the page's policy.


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost:8000"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
        # A sibling subdomain (user content, a forgotten host) is same-site, not ours.
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ],
)
def test_a_form_posted_from_anywhere_but_the_page_itself_is_refused(
    client: FlaskClient, session: Session, day: Day, headers: dict[str, str]
) -> None:
    for action in ACTIONS:
        response = client.post(
            f"/t/{day.token}/{action}", data={"instructions": "Porch"}, headers=headers
        )
        assert response.status_code == 403, (action, headers)
        assert error_code(response) == "cross_origin"
    assert _requests(session) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},  # what no-referrer makes
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Origin": "http://localhost"},
    ],
)
def test_a_form_posted_from_the_page_itself_is_accepted(
    client: FlaskClient, day: Day, headers: dict[str, str]
) -> None:
    response = client.post(
        f"/t/{day.token}/instructions", data={"instructions": "Porch"}, headers=headers
    )
    assert response.status_code == 303, response.status_code


def test_no_answer_about_a_link_lets_the_link_travel_on_in_a_referer(
    app: Flask, client: FlaskClient, settings: Settings, world: World, day: Day
) -> None:
    unsubscribe = unsubscribe_token(settings.secret_key, world.org_id, "email", "a@example.com")
    paths = [
        f"/t/{day.token}",
        f"/api/v1/track/{day.token}",
        f"/t/{'A' * 24}",  # the 404 page
        f"/api/v1/track/{'A' * 24}",
        f"/u/{unsubscribe}",
        "/u/not-a-token",
    ]
    for path in paths:
        response = client.get(path)
        assert response.headers.get("Referrer-Policy") == "no-referrer", path
    refused = client.post(
        f"/t/{day.token}/instructions", data={"instructions": "x" * 600}
    )  # the page shown again with the refusal
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    app.extensions[LIMITER] = TrackingLimiter(per_ip=1, per_link=1)
    client.get(f"/t/{day.token}")
    limited = client.get(f"/t/{day.token}")
    assert limited.status_code == 429
    assert limited.headers["Referrer-Policy"] == "no-referrer"
    assert limited.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def _directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def test_the_pages_policy_allows_no_inline_or_foreign_script(
    client: FlaskClient, settings: Settings, world: World, day: Day
) -> None:
    pages = [
        client.get(f"/t/{day.token}"),
        client.get(f"/t/{'A' * 24}"),
        client.post(f"/t/{day.token}/instructions", data={"instructions": "x" * 600}),
        client.get(
            "/u/" + unsubscribe_token(settings.secret_key, world.org_id, "email", "a@example.com")
        ),
    ]
    for page in pages:
        policy = _directives(page.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"]
        script = policy.get("script-src", policy["default-src"])
        assert "'unsafe-inline'" not in script
        assert "'unsafe-eval'" not in script
        assert not [source for source in script if source not in ("'self'", "'none'")]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert "<script>" not in page.get_data(as_text=True)  # no inline script at all


# --- Rate limits reach the forms too.


def test_the_forms_are_rate_limited_with_retry_after(
    app: Flask, client: FlaskClient, session: Session, day: Day
) -> None:
    app.extensions[LIMITER] = TrackingLimiter(per_ip=100, per_link=2)
    answers = [
        client.post(f"/t/{day.token}/instructions", data={"instructions": f"note {n}"})
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [303, 303, 429]
    assert error_code(answers[2]) == "rate_limited"
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    api = client.post(f"/api/v1/track/{day.token}/instructions", json={"text": "x"})
    assert_json_error(api, "rate_limited")
    assert _requests(session) == 2


# --- The unsubscribe page.


def test_an_unsubscribe_posted_twice_opts_out_once(
    client: FlaskClient, session: Session, settings: Settings, world: World
) -> None:
    token = unsubscribe_token(settings.secret_key, world.org_id, "email", "a@example.com")
    assert client.post(f"/u/{token}").status_code == 200
    assert client.post(f"/u/{token}").status_code == 200
    session.rollback()
    assert session.scalar(select(func.count()).select_from(NotificationOptOut)) == 1


def test_an_unsubscribe_address_with_markup_is_escaped(
    client: FlaskClient, settings: Settings, world: World
) -> None:
    address = '"><script>alert(1)</script>@example.com'
    token = unsubscribe_token(settings.secret_key, world.org_id, "email", address)
    for response in (client.get(f"/u/{token}"), client.post(f"/u/{token}")):
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;" in html


def test_a_tampered_unsubscribe_token_names_no_address(
    client: FlaskClient, session: Session, settings: Settings, world: World
) -> None:
    token = unsubscribe_token(settings.secret_key, world.org_id, "email", "a@example.com")
    other = unsubscribe_token(settings.secret_key, world.other_org_id, "email", "b@example.com")
    payload, mac = token.split(".")
    other_payload, _ = other.split(".")
    for forged in (f"{other_payload}.{mac}", f"{payload}.{mac[:-2]}", f"{payload}.", f".{mac}"):
        response = client.post(f"/u/{forged}")
        assert response.status_code == 404
    session.rollback()
    assert session.scalar(select(func.count()).select_from(NotificationOptOut)) == 0


def test_an_unsubscribe_link_is_redacted_from_log_lines_like_a_tracking_link(
    settings: Settings, world: World
) -> None:
    # It is a working opt-out and carries the recipient's address in base64.
    token = unsubscribe_token(settings.secret_key, world.org_id, "email", "dana@example.com")
    line = redact(f'"POST /u/{token} HTTP/1.1" 200 "https://mail.example/u/{token}?x=1"')
    assert token not in line
    assert line == '"POST /u/<token> HTTP/1.1" 200 "https://mail.example/u/<token>?x=1"'
    assert redact("/menu/today /api/v1/users/7") == "/menu/today /api/v1/users/7"
