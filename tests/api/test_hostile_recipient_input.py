"""Hostile input to what issue #11 added on the staff side: the planning import's
promise and e-mail fields, the organization's new settings, the sync's positions, the
30-day trend; and what a hostile value does to an e-mail (no header injection, no
markup). Each bad value is a 4xx with a stable code, and nothing half-applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import OrgSettingsVersion, Stop
from backend.notifications import rendering
from backend.notifications.transports import Email, PermanentSendError, build_email
from tests.api.test_hostile_input import (
    LONE_SURROGATE,
    YEAR_9999_BEHIND_UTC,
    YEAR_ONE_AHEAD_OF_UTC,
    assert_json_error,
)
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]
SETTINGS = "/api/v1/admin/settings"
IMPORT = "/api/v1/stops/import"
CRLF_HEADER = "Acme\r\nBcc: everyone@example.com"


def _import_row(**fields: Any) -> dict[str, Any]:
    return {
        "order_number": "Z-1",
        "address": "1 Elm St",
        "lat": 1,
        "lon": 1,
        "parcels": ["P1"],
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"recipient_email": "a@example.com\r\nBcc: x@example.com"}, "recipient_email"),
        ({"recipient_email": "a@example.com\nBcc: x@example.com"}, "recipient_email"),
        ({"recipient_email": "a@example.com\u2028x"}, "recipient_email"),
        ({"recipient_email": "x" * 250 + "@example.com"}, "recipient_email"),
        ({"recipient_email": ["a@example.com"]}, "recipient_email"),
        (
            {"promised_start": YEAR_ONE_AHEAD_OF_UTC, "promised_end": "2026-11-24T10:00:00Z"},
            "promised_start",
        ),
        (
            {"promised_start": "2026-11-24T09:00:00Z", "promised_end": YEAR_9999_BEHIND_UTC},
            "promised_end",
        ),
        ({"promised_start": "2026-11-24T09:00:00Z"}, "promised_end"),
        (
            {"promised_start": "2026-11-24T10:00:00Z", "promised_end": "2026-11-24T09:00:00Z"},
            "promised_end",
        ),
        ({"promised_start": 1764000000, "promised_end": 1764003600}, "promised_start"),
        ({"promised_start": "tomorrow", "promised_end": "2026-11-24T09:00:00Z"}, "promised_start"),
    ],
)
def test_a_bad_promise_or_email_in_an_import_names_its_row_and_imports_nothing(
    client: FlaskClient, auth: Auth, world: World, session: Session, fields: Any, field: str
) -> None:
    body = {
        "service_date": "2026-11-24",
        "stops": [_import_row(order_number="OK-1"), _import_row(**fields)],
    }
    response = client.post(IMPORT, json=body, headers=auth("dispatcher"))
    error = assert_json_error(response, "import_invalid")
    # JSON rows are numbered from 0: the second row is "1".
    assert list(error["errors"]["rows"]) == ["1"], error
    assert field in error["errors"]["rows"]["1"], error
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Stop)) == 0


def test_a_csv_import_with_a_crlf_in_an_email_cell_names_its_row(
    client: FlaskClient, auth: Auth, world: World, session: Session
) -> None:
    csv = (
        "order_number,address,lat,lon,parcels,recipient_email\n"
        'Z-1,1 Elm St,1,1,P1,"a@example.com\r\nBcc: x@example.com"\n'
    )
    response = client.post(
        f"{IMPORT}?date=2026-11-24",
        data=csv,
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    error = assert_json_error(response, "import_invalid")
    assert "recipient_email" in error["errors"]["rows"]["2"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Stop)) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notification_sender_name", CRLF_HEADER),
        ("notification_sender_name", "Acme\nDeliveries"),
        ("notification_sender_name", "Acme\u2028Deliveries"),
        ("notification_sender_name", "Acme\x1b[2J"),
        ("tracking_page_name", "Acme\r\nDeliveries"),
        ("notification_sender_email", "a@example.com\r\nBcc: x@example.com"),
        ("arriving_soon_minutes", True),
        ("arriving_soon_minutes", 2**70),
        ("arriving_soon_minutes", 4),
        ("arriving_soon_minutes", 121),
        ("arriving_soon_minutes", 15.5),
        ("arriving_soon_minutes", "15"),
        ("tracking_show_photo", "yes"),
        ("tracking_show_photo", 1),
        ("tracking_show_photo", None),
        ("delivery_weekdays", []),
        ("delivery_weekdays", "mon"),
        ("delivery_weekdays", ["monday"]),
        ("delivery_weekdays", ["MON"]),
        ("delivery_weekdays", [1, 2]),
        ("delivery_weekdays", [["mon"]]),
        ("delivery_weekdays", {"mon": True}),
    ],
)
def test_a_bad_new_setting_is_refused_by_field_and_nothing_changes(
    client: FlaskClient, auth: Auth, world: World, session: Session, field: str, value: Any
) -> None:
    response = client.put(SETTINGS, json={field: value}, headers=auth("admin"))
    error = assert_json_error(response)
    assert response.status_code == 422
    assert error["code"] in ("validation_error", "integer_out_of_range")
    assert field in error.get("errors", {}), error
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OrgSettingsVersion)) == 0


def test_the_new_settings_with_a_lone_surrogate_are_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    body = f'{{"notification_sender_name": {LONE_SURROGATE}}}'
    response = client.put(
        SETTINGS, data=body, headers={**auth("admin"), "Content-Type": "application/json"}
    )
    assert_json_error(response, "invalid_unicode")


@pytest.mark.parametrize(
    "positions",
    [
        [{"lat": 91, "lon": 0, "recorded_at": "2026-11-24T16:00:00Z"}],
        [{"lat": 0, "lon": 0}],
        [{"lat": "NaN", "lon": 0, "recorded_at": "2026-11-24T16:00:00Z"}],
        [{"lat": 1e309, "lon": 0, "recorded_at": "2026-11-24T16:00:00Z"}],
        [{"lat": 0, "lon": 0, "recorded_at": YEAR_9999_BEHIND_UTC}],
        [{"lat": 0, "lon": 0, "recorded_at": YEAR_ONE_AHEAD_OF_UTC}],
        [{"lat": 0, "lon": 0, "recorded_at": "2026-11-24T16:00:00Z", "accuracy_m": -1}],
        [{"lat": 0, "lon": 0, "recorded_at": "2026-11-24T16:00:00Z", "speed": 3}],
        ["0,0"],
        {"lat": 0, "lon": 0},
        [{"lat": 0, "lon": 0, "recorded_at": "2026-11-24T16:00:00Z"}] * 10_001,
    ],
)
def test_bad_positions_in_a_sync_are_a_422_and_nothing_applies(
    client: FlaskClient, auth: Auth, world: World, positions: Any
) -> None:
    body = json.dumps(
        {"device_id": "dev-driver_a", "cursor": None, "events": [], "positions": positions}
    )
    response = client.post(
        "/api/v1/sync",
        data=body,
        headers={**auth("driver_a"), "Content-Type": "application/json"},
    )
    assert_json_error(response)
    assert response.status_code in (400, 413, 422)


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-29", "9999-12-31"])
def test_a_trend_ending_at_the_calendars_edge_is_an_answer_not_a_500(
    client: FlaskClient, auth: Auth, world: World, day: str
) -> None:
    response = client.get(f"/api/v1/reconciliation/trend?date={day}", headers=auth("dispatcher"))
    if response.status_code == 200:
        assert len(response.get_json()["points"]) == 30
    else:
        assert_json_error(response, "validation_error")


def test_a_trend_whose_30_days_start_before_year_one_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    response = client.get(
        "/api/v1/reconciliation/trend?date=0001-01-05&format=csv", headers=auth("dispatcher")
    )
    error = assert_json_error(response, "validation_error")
    assert "date" in error["message"]


# --- E-mail: a line break in a header value never becomes another header.


def _email(**fields: str) -> Email:
    values = {
        "to": "dana@example.com",
        "sender_name": "Acme",
        "sender_address": "no-reply@example.com",
        "subject": "Your parcel",
        "text": "hello",
        "html": "<p>hello</p>",
        **fields,
    }
    return Email(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {"sender_name": CRLF_HEADER},
        {"to": "dana@example.com\r\nBcc: everyone@example.com"},
        {"subject": "Hi\r\nBcc: everyone@example.com"},
        {"sender_address": "a@example.com\nBcc: everyone@example.com"},
    ],
)
def test_a_header_value_with_a_line_break_is_a_permanent_failure_for_that_message(
    fields: dict[str, str],
) -> None:
    with pytest.raises(PermanentSendError):
        build_email(_email(**fields))


def test_a_sender_name_with_quotes_and_commas_stays_one_from_address() -> None:
    message = build_email(_email(sender_name='Acme, "Deliveries" <evil@example.com>'))
    assert len(message.get_all("From")) == 1
    assert message["From"].addresses[0].addr_spec == "no-reply@example.com"
    assert "Bcc" not in message


def test_markup_in_a_recipients_name_is_escaped_in_the_html_part_only() -> None:
    name = '<script>alert(1)</script><a href="https://evil.example">'
    context = {**rendering.SAMPLE_CONTEXT, "recipient_name": name}
    rendered = rendering.render("out_for_delivery", context, None)
    assert "<script>" not in rendered.html
    assert 'href="https://evil.example"' not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "\n" not in rendered.subject


def test_a_tenant_template_cannot_reach_python_internals() -> None:
    hostile = {
        "subject": "{{ order_number.__class__.__mro__[1].__subclasses__() }}",
        "text": "{{ tracking_url }}{{ ''.__class__.__base__ }}",
        "html": "{{ tracking_url }}{% include '../../config.py' %}",
        "sms": "{{ tracking_url }}{{ cycler.__init__.__globals__ }}",
    }
    errors = rendering.check_template("out_for_delivery", hostile)
    assert set(errors) == {"subject", "text", "html", "sms"}, errors


@pytest.mark.parametrize(
    "expression",
    # (10 ** 10 ** 10 is the real threat; a smaller power keeps this test from hanging
    # should the guard ever go.)
    ["'x' * 100000000", "100000000 * 'x'", "[0] * 100000000", "10 ** 10", "2 ** 8"],
)
def test_a_tenant_template_cannot_exhaust_the_server(expression: str) -> None:
    # Refused when saved, in well under a second; before, "*" allocated gigabytes and
    # "**" was folded by Jinja's compiler for ever.
    parts = {
        "subject": f"{{{{ {expression} }}}}",
        "text": "{{ tracking_url }}",
        "html": "{{ tracking_url }}",
        "sms": "{{ tracking_url }}",
    }
    errors = rendering.check_template("out_for_delivery", parts)
    assert list(errors) == ["subject"], errors


def test_a_tenant_template_may_still_repeat_a_little() -> None:
    parts = {
        "subject": "{{ '-' * 20 }} {{ 3 * 4 }}",
        "text": "{{ tracking_url }}",
        "html": "{{ tracking_url }}",
        "sms": "{{ tracking_url }}",
    }
    assert rendering.check_template("out_for_delivery", parts) == {}
