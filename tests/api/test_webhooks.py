"""Webhooks: safe URLs only, signed deliveries, retries kept in the database."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from backend.db.models import Stop, WebhookDelivery
from backend.db.session import Database
from backend.domain.clock import SetClock
from backend.webhooks.safety import UnsafeWebhookUrl, check_webhook_url
from backend.webhooks.service import deliver_due
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device

Auth = Callable[[str], dict[str, str]]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "ftp://example.com/hook",
        "https://user:pw@8.8.8.8/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_loopback_private_link_local_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        check_webhook_url(url)


def test_a_public_address_is_accepted() -> None:
    check_webhook_url("https://93.184.216.34/hooks/doorstep")


class Receiver:
    """A local integrator that fails the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((dict(request.headers), request.get_data()))
        status = 500 if len(self.calls) <= self.failures else 204
        return Response(status=status)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    live = Receiver(failures=1)
    threading.Thread(target=live.server.serve_forever, daemon=True).start()
    yield live
    live.server.shutdown()


@pytest.fixture
def loopback_app(app: Flask) -> Flask:
    app.config["DOORSTEP"] = replace(app.config["DOORSTEP"], webhook_allow_loopback=True)
    return app


def test_registering_an_unsafe_url_is_refused(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    response = client.post(
        "/api/v1/webhooks",
        json={"url": "http://10.0.0.5/h", "events": ["delivered"]},
        headers=auth("admin"),
    )
    assert (response.status_code, response.get_json()["code"]) == (422, "unsafe_webhook_url")


def test_only_admins_manage_webhooks(client: FlaskClient, world: World, auth: Auth) -> None:
    body = {"url": "https://93.184.216.34/h", "events": ["delivered"]}
    assert client.post("/api/v1/webhooks", json=body, headers=auth("dispatcher")).status_code == 403
    created = client.post("/api/v1/webhooks", json=body, headers=auth("admin"))
    assert created.status_code == 201
    assert created.get_json()["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks", headers=auth("admin")).get_json()["items"]
    assert "secret" not in listed[0]


def test_a_delivery_event_is_signed_retried_and_delivered(
    loopback_app: Flask,
    world: World,
    session: Session,
    auth: Auth,
    token_for,  # type: ignore[no-untyped-def]
    receiver: Receiver,
    database: Database,
    clock: SetClock,
) -> None:
    client = loopback_app.test_client()
    created = client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["delivered"]},
        headers=auth("admin"),
    ).get_json()
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    device.sync([device.event(stop_id)])

    with loopback_app.app_context(), database.session() as worker:
        assert deliver_due(worker, allow_loopback=True) == {"delivered": 0, "retry": 1, "failed": 0}
    session.rollback()
    row = session.scalars(select(WebhookDelivery)).one()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at > clock.now() + timedelta(seconds=10)

    # The retry lives in the table: a fresh worker (after a restart) picks it up when due.
    session.execute(update(WebhookDelivery).values(next_attempt_at=clock.now()))
    session.commit()
    restarted = Database(database.url)
    with loopback_app.app_context(), restarted.session() as worker:
        assert deliver_due(worker, allow_loopback=True)["delivered"] == 1
    restarted.dispose()

    headers, body = receiver.calls[-1]
    stamp, mac = headers["Doorstep-Signature"].removeprefix("t=").split(",v1=")
    expected = hmac.new(created["secret"].encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    payload = json.loads(body)
    assert (payload["type"], payload["stop_id"]) == ("delivered", stop_id)
    assert payload["receipt"]["alg"] == "Ed25519"
    assert headers["Doorstep-Event"] == "delivered"


def test_production_refuses_loopback_webhooks() -> None:
    from backend.config import ConfigError, load_settings

    environ = {
        "DOORSTEP_ENV": "production",
        "DATABASE_URL": "postgresql+psycopg://x@db/x",
        "DOORSTEP_SECRET_KEY": "s" * 40,
        "DOORSTEP_JWT_KEYS": "k:" + "n" * 48,
        "DOORSTEP_RECEIPT_KEYS": "r1:cHJvZHVjdGlvbi1yZWNlaXB0LXNlZWQtMzItYnl0ZXM=",
        "DOORSTEP_WEBHOOK_ALLOW_LOOPBACK": "1",
    }
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_LOOPBACK"):
        load_settings(environ=environ).check_safe_for_production()
