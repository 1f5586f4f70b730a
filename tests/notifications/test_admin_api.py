"""The admin API for recipient messages: templates per kind, and the outbox overview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.config import parse_smtp_url
from backend.db.models import AuditEntry, NotificationTemplate, Stop
from backend.db.session import Database
from backend.domain.notifications import Kind
from backend.notifications import rendering
from backend.notifications.service import Outgoing, queue
from backend.notifications.transports import SmtpTransport, Transports
from tests.conftest import World
from tests.notifications.servers import SmtpServer

Headers = Callable[[str], dict[str, str]]
URL = "/api/v1/org/notification-templates"
GOOD = {
    "subject": "Order {{ order_number }} is here",
    "text": "Hi {{ recipient_name }}, see {{ tracking_url }}",
    "html": "<p>Hi {{ recipient_name }}</p><a href='{{ tracking_url }}'>track</a>",
    "sms": "Here: {{ tracking_url }}",
}


def _audit(database: Database, org_id: int) -> list[AuditEntry]:
    with database.session() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.org_id == org_id,
                    AuditEntry.target_type == "notification_template",
                )
                .order_by(AuditEntry.id)
            )
        )


def test_an_admin_reads_edits_and_resets_a_kind_and_each_change_is_audited(
    client: FlaskClient, auth: Headers, world: World, database: Database
) -> None:
    shipped = client.get(f"{URL}/delivered", headers=auth("admin"))
    assert shipped.status_code == 200
    body = shipped.get_json()
    assert body["customized"] is False
    assert body["parts"] == body["defaults"]
    assert body["defaults"]["sms"] == rendering.default_source("delivered", "sms")

    saved = client.put(f"{URL}/delivered", json=GOOD, headers=auth("admin"))
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["customized"] is True
    assert saved.get_json()["parts"] == GOOD
    assert saved.get_json()["updated_at"].startswith("2026-11-24T17:00")
    listed = client.get(URL, headers=auth("admin")).get_json()["items"]
    assert [item["kind"] for item in listed] == [kind.value for kind in Kind]
    assert [item["customized"] for item in listed if item["kind"] == "delivered"] == [True]

    reset = client.delete(f"{URL}/delivered", headers=auth("admin"))
    assert reset.status_code == 200
    assert reset.get_json()["customized"] is False
    # Resetting what is already the default changes nothing and records nothing.
    assert client.delete(f"{URL}/delivered", headers=auth("admin")).status_code == 200

    change, undo = _audit(database, world.org_id)
    assert (change.action, change.target_id, change.actor) == (
        "notification_template.change",
        "delivered",
        "admin",
    )
    assert change.before is None
    assert change.after == GOOD
    assert (undo.action, undo.before, undo.after) == ("notification_template.reset", GOOD, None)


@pytest.mark.parametrize("kind", [kind.value for kind in Kind])
def test_every_shipped_wording_passes_the_check_a_tenants_must_pass(
    client: FlaskClient, auth: Headers, world: World, kind: str
) -> None:
    """An admin starts from the default: saved unchanged, it must be accepted."""
    defaults = client.get(f"{URL}/{kind}", headers=auth("admin")).get_json()["defaults"]
    assert client.put(f"{URL}/{kind}", json=defaults, headers=auth("admin")).status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"text": "Hi {% if %}"}, "text", "does not render"),
        ({"sms": "{{ tracking_url }} {{ secret.__class__ }}"}, "sms", "does not render"),
        ({"html": "<p>{{ tracking_url }} {{ no_such_thing }}</p>"}, "html", "does not render"),
        ({"sms": "Delivered."}, "sms", "tracking_url"),
        ({"sms": "{% if false %}{{ tracking_url }}{% endif %}Delivered"}, "sms", "tracking_url"),
        ({"subject": "x" * (rendering.LIMITS["subject"] + 1)}, "subject", "at most"),
        ({"html": "{{ tracking_url }}" + "x" * rendering.LIMITS["html"]}, "html", "at most"),
        ({"subject": "   "}, "subject", "non-empty"),
        ({"text": 12}, "text", "non-empty"),
    ],
)
def test_a_template_that_cannot_be_used_is_refused_per_part_and_not_stored(
    client: FlaskClient,
    auth: Headers,
    world: World,
    database: Database,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    answer = client.put(f"{URL}/failed", json=GOOD | change, headers=auth("admin"))
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [field]
    assert words in body["errors"][field][0]
    with database.session() as session:
        assert session.scalars(select(NotificationTemplate)).all() == []
    assert _audit(database, world.org_id) == []


def test_a_missing_part_or_unknown_field_is_a_validation_error(
    client: FlaskClient, auth: Headers, world: World
) -> None:
    parts = dict(GOOD)
    del parts["sms"]
    missing = client.put(f"{URL}/failed", json=parts, headers=auth("admin"))
    assert (missing.status_code, list(missing.get_json()["errors"])) == (422, ["sms"])
    extra = client.put(f"{URL}/failed", json=GOOD | {"footer": "x"}, headers=auth("admin"))
    assert (extra.status_code, list(extra.get_json()["errors"])) == (422, ["footer"])


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_an_unknown_kind_is_404_with_its_own_code(
    client: FlaskClient, auth: Headers, world: World, method: str
) -> None:
    answer = getattr(client, method)(f"{URL}/birthday", json=GOOD, headers=auth("admin"))
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "notification_kind_unknown"


@pytest.mark.parametrize("username", ["driver_a", "dispatcher", "support"])
def test_only_admins_read_or_change_templates_and_the_outbox(
    client: FlaskClient, auth: Headers, world: World, database: Database, username: str
) -> None:
    headers = auth(username)
    for answer in (
        client.get(URL, headers=headers),
        client.get(f"{URL}/delivered", headers=headers),
        client.put(f"{URL}/delivered", json=GOOD, headers=headers),
        client.delete(f"{URL}/delivered", headers=headers),
        client.post(f"{URL}/delivered/preview", json=GOOD, headers=headers),
        client.get("/api/v1/org/notification-outbox", headers=headers),
    ):
        assert (answer.status_code, answer.get_json()["code"]) == (403, "forbidden")
    with database.session() as session:
        assert session.scalars(select(NotificationTemplate)).all() == []


def test_another_tenants_template_is_neither_seen_nor_changed(
    client: FlaskClient, auth: Headers, world: World, database: Database
) -> None:
    with database.session() as session:
        rendering.set_template(session, world.other_org_id, "delivered", GOOD)
    mine = client.get(f"{URL}/delivered", headers=auth("admin")).get_json()
    assert mine["customized"] is False
    client.delete(f"{URL}/delivered", headers=auth("admin"))
    with database.session() as session:
        assert rendering.template_of(session, world.other_org_id, "delivered") is not None


def test_a_preview_renders_with_sample_values_and_stores_nothing(
    client: FlaskClient, auth: Headers, world: World, database: Database
) -> None:
    parts = GOOD | {"html": "<p>{{ recipient_name }} {{ '<b>' }}</p>{{ tracking_url }}"}
    answer = client.post(f"{URL}/delivered/preview", json=parts, headers=auth("admin"))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["subject"] == "Order A-1042 is here"
    assert body["text"] == f"Hi Dana, see {rendering.SAMPLE_CONTEXT['tracking_url']}\n"
    # The same sandbox and escaping as the worker's.
    assert "&lt;b&gt;" in body["html"]
    bad = client.post(
        f"{URL}/delivered/preview", json=GOOD | {"text": "{{ tracking_url"}, headers=auth("admin")
    )
    assert (bad.status_code, list(bad.get_json()["errors"])) == (422, ["text"])
    with database.session() as session:
        assert session.scalars(select(NotificationTemplate)).all() == []


def test_the_outbox_overview_shows_an_smtp_outage_as_retries_with_their_error(
    app: Flask,
    client: FlaskClient,
    auth: Headers,
    world: World,
    database: Database,
    stops: list[int],
    smtp: SmtpServer,
    run_worker: Callable[..., dict[str, int]],
) -> None:
    with app.app_context(), database.session() as session:
        for stop_id in stops[:2]:
            stop = session.get(Stop, stop_id)
            assert stop is not None
            context = {"sender": "Acme", "recipient_name": "Dana", "order_number": "A-1"}
            queue(session, world.org_id, [Outgoing(Kind.DELIVERED, stop, "", context)])
        session.commit()
    # Nothing listens here: every e-mail is put back for a retry, the SMS go nowhere.
    smtp_down = parse_smtp_url("smtp://127.0.0.1:9")
    counts = run_worker(Transports(email=SmtpTransport(smtp_down)))
    assert counts["retry"] == 2
    overview = client.get("/api/v1/org/notification-outbox", headers=auth("admin"))
    assert overview.status_code == 200
    body = overview.get_json()
    assert body["today"] == {"pending": 2, "sending": 0, "sent": 0, "failed": 0, "suppressed": 2}
    assert body["last_7_days"] == body["today"]
    assert body["failed"] == []
    assert len(body["retrying"]) == 2
    first = body["retrying"][0]
    assert first["channel"] == "email"
    assert first["attempts"] == 1
    assert first["last_error"]
    assert first["address"].startswith("r•••@")
    assert "recipient" not in first["address"]
