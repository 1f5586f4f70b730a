"""GET /: a browser lands on the console's login page, an API client on links."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.documented import assert_documented

# What Firefox and Chromium send when someone types the server's address.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_is_sent_to_the_console_login(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/login"
    assert "Accept" in response.vary
    assert client.get(response.headers["Location"]).status_code == 200


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html;q=0.5, */*"])
def test_an_api_client_gets_links_that_answer(client: FlaskClient, accept: str | None) -> None:
    response = client.get("/", headers={"Accept": accept} if accept else {})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "Accept" in response.vary
    links = response.get_json()["links"]
    assert links == {
        "docs": "/api/v1/docs",
        "openapi": "/api/v1/openapi.json",
        "health": "/healthz",
        "console": "/console/login",
    }
    for link in links.values():
        assert client.get(link).status_code == 200, link


def test_the_index_is_what_the_openapi_document_says(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/"]["get"]

    assert set(operation["responses"]) >= {"200", "302"}
    assert "security" not in operation
    assert_documented(spec, "Index", client.get("/").get_json())
