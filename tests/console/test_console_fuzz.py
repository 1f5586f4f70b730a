"""Whatever a browser (or anyone with a session) sends, the console answers with a page
and a status, never a 500: random values in every form field and query parameter."""

from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Dispute, Stop
from tests.conftest import World
from tests.console.pages import csrf_of, log_in
from tests.factories import make_manifest

ANSWERS = {200, 302, 400, 403, 404, 409, 422}

FUZZ = settings(
    max_examples=80,
    deadline=None,
    # The client keeps its login between examples; the database is the fixture's.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # CI replays the same inputs every run, so a red CI is a regression, not a new draw.
    derandomize=os.environ.get("CI") == "true",
)

# Values a person or a script could put in a field: empty, plausible, hostile, huge.
values = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "accept",
            "reject",
            "annotate",
            "rejected",
            "upheld",
            "refund",
            "redeliver",
            "12.50",
            "USD",
            "not_received",
            "true",
            "1:no_outcome",
            "2026-11-24",
            "9" * 30,
            "-1",
            "%_'\";--",
            "<script>alert(1)</script>",
            "/console/day",
            "//evil.example",
        ]
    ),
    st.text(max_size=60),
    st.text(min_size=2001, max_size=2100),
)

FORMS = {
    "/console/exceptions/decide": [
        "decision",
        "note",
        "items",
        "scope",
        "expected",
        "confirmed",
        "back",
        "date",
        "depot",
        "driver",
        "kind",
    ],
    "/console/deliveries/1/disputes": ["reason", "note", "customer_reference"],
    "/console/disputes/1/notes": ["text"],
    "/console/disputes/1/resolve": [
        "outcome",
        "remedy",
        "refund_amount",
        "refund_currency",
        "redeliver_on",
        "reason",
        "evidence_cited",
        "confirm",
    ],
}
PAGES = {
    "/console/day": ["date", "depot", "fragment"],
    "/console/exceptions": ["date", "depot", "driver", "kind"],
    "/console/summary": ["date", "depot"],
    "/console/summary.csv": ["date", "depot"],
    "/console/trend.csv": ["date", "depot"],
    "/console/search": ["q"],
    "/console/disputes": ["status"],
}


@pytest.fixture
def stop_with_dispute(world: World, session: Session) -> None:
    """Stop 1 (pending, a no_outcome exception) with open dispute 1: the forms reach
    their services instead of stopping at "not found"."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    stop_id = session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id)).first()
    assert stop_id == 1
    session.add(
        Dispute(org_id=world.org_id, stop_id=1, reason="damaged", opened_by=world.users["support"])
    )
    session.commit()


def _admin(client: FlaskClient) -> str:
    """Log in as admin once per test (the client keeps its cookie between examples).

    Admins may use every page and form, so every handler's validation is reached.
    """
    if client.get("/console/search").status_code == 302:
        log_in(client, "admin")
    return csrf_of(client, "/console/search")


@FUZZ
@given(
    path=st.sampled_from(sorted(FORMS)),
    data=st.data(),
)
def test_no_form_input_makes_the_console_fail(
    client: FlaskClient, stop_with_dispute: None, path: str, data: st.DataObject
) -> None:
    token = _admin(client)
    fields = data.draw(st.dictionaries(st.sampled_from(FORMS[path]), values, max_size=6))
    response = client.post(path, data={"csrf_token": token, **fields})
    assert response.status_code in ANSWERS, (path, fields, response.status_code)


@FUZZ
@given(path=st.sampled_from(sorted(PAGES)), data=st.data())
def test_no_query_string_makes_the_console_fail(
    client: FlaskClient, stop_with_dispute: None, path: str, data: st.DataObject
) -> None:
    _admin(client)
    query = data.draw(st.dictionaries(st.sampled_from(PAGES[path]), values, max_size=4))
    response = client.get(path, query_string=query)
    assert response.status_code in ANSWERS, (path, query, response.status_code)
