"""Driving the console with Flask's test client: log in, read forms, post them."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    """The session's CSRF token, as a form on ``path`` carries it."""
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client: FlaskClient, username: str, password: str = "pw") -> TestResponse:
    return client.post(
        "/console/login",
        data={"csrf_token": csrf_of(client), "username": username, "password": password},
    )


def post_form(client: FlaskClient, path: str, data: dict[str, Any]) -> TestResponse:
    """POST a console form the way a browser would, CSRF token included."""
    token = csrf_of(client, "/console/search")
    return client.post(path, data={"csrf_token": token, **data})


def error_code(response: TestResponse) -> str | None:
    found = re.search(r'data-code="([^"]+)"', response.get_data(as_text=True))
    return found.group(1) if found else None
