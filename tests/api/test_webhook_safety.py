"""Webhooks cannot reach inside: public addresses only, the checked one, no redirects."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from backend.db.models import WebhookDelivery, WebhookEndpoint
from backend.db.session import Database
from backend.domain.clock import SetClock, system_now
from backend.webhooks import service
from backend.webhooks.safety import UnsafeWebhookUrl, is_public_address, resolve_safe
from backend.webhooks.service import deliver_due
from tests.conftest import World

HOSTNAME = "hooks.example.test"
METADATA = "169.254.169.254"


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT, 100.64.0.0/10
        METADATA,  # cloud metadata, link-local
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "192.0.0.8",  # IETF protocol assignments
        "198.18.0.1",  # benchmarking
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",  # multicast counts as "global" to ipaddress, yet is no receiver
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",  # deprecated site-local
        "ff0e::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::a00:1",  # IPv4-compatible (deprecated)
        "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::808:808",  # local-use NAT64 prefix
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "2001:db8::1",  # documentation
    ],
)
def test_a_non_public_address_is_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_a_public_address_is_accepted(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_accepted_only_when_allowed(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert is_public_address(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize("address", ["10.0.0.1", METADATA, "100.64.0.1", "fe80::1"])
def test_allowing_loopback_allows_nothing_else(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://100.64.0.1/hook",
        "https://[2002:a00:1::1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "https://[::ffff:10.0.0.1]/hook",
    ],
)
def test_registration_refuses_urls_with_non_public_literal_addresses(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="not a public address"):
        resolve_safe(url)


def test_an_invalid_port_is_an_unsafe_url_not_a_crash() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="port"):
        resolve_safe("https://93.184.216.34:99999/hook")


def test_the_vetted_addresses_are_returned_with_the_parsed_url() -> None:
    parts, addresses = resolve_safe("https://[::ffff:93.184.216.34]:8443/h?x=1")
    assert (parts.hostname, parts.port, parts.query) == ("::ffff:93.184.216.34", 8443, "x=1")
    assert addresses == [ipaddress.ip_address("93.184.216.34")]


class Receiver:
    """A local integrator answering every call with ``status`` (and ``headers``)."""

    def __init__(
        self,
        status: int = 204,
        headers: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.status = status
        self.headers = headers or {}
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=ssl_context)
        self.port = self.server.server_port
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"

    def app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((dict(request.headers), request.get_data()))
        return Response(status=self.status, headers=self.headers)(environ, start_response)

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _queue_one(session: Session, world: World, url: str, clock: SetClock) -> int:
    endpoint = WebhookEndpoint(
        org_id=world.org_id, url=url, secret="whsec_test", events=["delivered"], active=True
    )
    session.add(endpoint)
    session.flush()
    delivery = WebhookDelivery(
        org_id=world.org_id,
        endpoint_id=endpoint.id,
        event_type="delivered",
        payload={"type": "delivered", "stop_id": 1},
        status="pending",
        attempts=0,
        next_attempt_at=clock.now(),
        last_error="",
        created_at=clock.now(),
    )
    session.add(delivery)
    session.commit()
    return delivery.id


def _deliver(app: Flask, database: Database) -> dict[str, int]:
    with app.app_context(), database.session() as worker:
        return deliver_due(worker, allow_loopback=True, timeout_s=5.0)


def _row(session: Session, delivery_id: int) -> WebhookDelivery:
    session.rollback()
    row = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)).one()
    return row


def test_a_webhook_that_redirects_is_not_followed(
    app: Flask, world: World, session: Session, database: Database, clock: SetClock
) -> None:
    with Receiver() as inside, Receiver(302, {"Location": inside.url}) as redirector:
        delivery_id = _queue_one(session, world, redirector.url, clock)

        assert _deliver(app, database) == {"delivered": 0, "retry": 1, "failed": 0}

        assert len(redirector.calls) == 1
        assert inside.calls == []
    row = _row(session, delivery_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "HTTP 302 (redirects are not followed)"


@pytest.fixture
def changing_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Make HOSTNAME resolve to the given address on first lookup, then to METADATA.

    Returns a function that arms it with the first answer and gives the list of
    lookups made; every other name resolves normally.
    """
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []
    first_answer: list[str] = []

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != HOSTNAME:
            return real_getaddrinfo(host, port, *args, **kwargs)
        answer = first_answer[0] if not lookups else METADATA
        lookups.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    def arm(first: str) -> list[str]:
        first_answer.append(first)
        return lookups

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return arm


def test_the_connection_goes_to_the_checked_address_even_if_dns_changes(
    app: Flask,
    world: World,
    session: Session,
    database: Database,
    clock: SetClock,
    changing_dns: Callable[[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_create_connection = socket.create_connection
    connected_to: list[tuple[str, int]] = []

    def recording_create_connection(address: tuple[str, int], *args: Any) -> socket.socket:
        connected_to.append(address)
        return real_create_connection(address, *args)

    monkeypatch.setattr(socket, "create_connection", recording_create_connection)
    lookups = changing_dns("127.0.0.1")
    with Receiver() as receiver:
        delivery_id = _queue_one(session, world, f"http://{HOSTNAME}:{receiver.port}/hook", clock)

        assert _deliver(app, database) == {"delivered": 1, "retry": 0, "failed": 0}

        assert lookups == ["127.0.0.1"]
        assert connected_to == [("127.0.0.1", receiver.port)]
        headers, _ = receiver.calls[0]
        assert headers["Host"] == f"{HOSTNAME}:{receiver.port}"
    assert _row(session, delivery_id).status == "delivered"


def test_a_host_that_now_resolves_to_cloud_metadata_is_not_contacted(
    app: Flask,
    world: World,
    session: Session,
    database: Database,
    clock: SetClock,
    changing_dns: Callable[[str], list[str]],
) -> None:
    lookups = changing_dns("127.0.0.1")
    with Receiver() as receiver:
        url = f"http://{HOSTNAME}:{receiver.port}/hook"
        resolve_safe(url, allow_loopback=True)  # as at registration
        delivery_id = _queue_one(session, world, url, clock)

        assert _deliver(app, database) == {"delivered": 0, "retry": 1, "failed": 0}

        assert lookups == ["127.0.0.1", METADATA]
        assert receiver.calls == []
    row = _row(session, delivery_id)
    assert row.last_error == f"{HOSTNAME} resolves to {METADATA}, which is not a public address"


def _self_signed(tmp_path: Path, hostname: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for ``hostname``, and that certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = system_now()  # OpenSSL checks the validity period by the machine's clock
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_path, cert_path = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_text(cert_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    return server_context, cert_pem


@pytest.mark.parametrize(
    ("certificate_for", "outcome"),
    [(HOSTNAME, "delivered"), ("someone-else.example.test", "retry")],
)
def test_https_checks_the_certificate_against_the_host_name_not_the_address(
    app: Flask,
    world: World,
    session: Session,
    database: Database,
    clock: SetClock,
    changing_dns: Callable[[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certificate_for: str,
    outcome: str,
) -> None:
    server_context, cert_pem = _self_signed(tmp_path, certificate_for)
    real_create_default_context = ssl.create_default_context

    def trusting_our_certificate() -> ssl.SSLContext:
        return real_create_default_context(cadata=cert_pem)

    monkeypatch.setattr(service.ssl, "create_default_context", trusting_our_certificate)
    changing_dns("127.0.0.1")
    with Receiver(ssl_context=server_context) as receiver:
        delivery_id = _queue_one(session, world, f"https://{HOSTNAME}:{receiver.port}/hook", clock)

        assert _deliver(app, database)[outcome] == 1

    row = _row(session, delivery_id)
    if outcome == "retry":
        assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert receiver.calls == []
    else:
        assert row.last_error == ""
