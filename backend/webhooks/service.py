"""Registering endpoints, queueing events, and delivering them with retries.

Queueing happens in the same transaction as the change that caused the event (an
outbox), so an event is never lost and never sent for a change that rolled back.
Delivery is a separate worker pass (`doorstep webhooks`): it takes due rows, POSTs
them signed to the addresses it has just checked (never following a redirect), and on
failure schedules the next attempt with exponential backoff and jitter, in the table,
so a restart resumes where it stopped.

Signature: header ``Doorstep-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"`` with the endpoint's secret; receivers should also reject stale
``t`` values (more than 5 minutes off) to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import random
import secrets
import socket
import ssl
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import SplitResult

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import WebhookDelivery, WebhookEndpoint
from backend.db.session import begin_write
from backend.domain.refusal import not_found
from backend.webhooks.safety import IPAddress, UnsafeWebhookUrl, check_webhook_url, resolve_safe

EVENT_TYPES = (
    "delivered",
    "failed",
    "exception",
    "dispute",
    # The recipient moments (backend.notifications.triggers), for integrators who send
    # their own messages.
    "route.started",
    "stop.arriving",
    # An ETA moved by five minutes or more (backend.eta.service).
    "stop.eta_changed",
)
MAX_ATTEMPTS = 12
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoints(session: Session) -> list[WebhookEndpoint]:
    """The tenant's registered endpoints, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def register_endpoint(
    session: Session, org_id: int, url: str, events: Iterable[str], *, allow_loopback: bool
) -> WebhookEndpoint:
    """Register ``url`` for ``events`` with a new signing secret; refused
    (``unsafe_webhook_url``) if the host has a non-public address."""
    check_webhook_url(url, allow_loopback)
    begin_write(session)
    endpoint = WebhookEndpoint(
        org_id=org_id, url=url, secret=new_secret(), events=sorted(set(events))
    )
    session.add(endpoint)
    session.commit()
    return endpoint


def deactivate_endpoint(session: Session, endpoint_id: int) -> None:
    """Stop sending to this endpoint; its row stays, for the deliveries' history."""
    begin_write(session)
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    endpoint.active = False
    session.commit()


def endpoint_dict(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


def enqueue(
    session: Session, org_id: int, event_type: str, payloads: Iterable[dict[str, Any]]
) -> int:
    """Queue ``payloads`` for every active endpoint of the tenant that wants them."""
    endpoints = [
        e
        for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
        if event_type in e.events
    ]
    rows = [
        {
            "org_id": org_id,
            "endpoint_id": endpoint.id,
            "event_type": event_type,
            "payload": {"type": event_type, **payload},
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": clock.now(),
            "last_error": "",
            "created_at": clock.now(),
        }
        for endpoint in endpoints
        for payload in payloads
    ]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    return len(rows)


def backoff(attempts: int) -> timedelta:
    """30 s doubling per attempt, capped at 6 hours, with full jitter."""
    ceiling = min(6 * 3600, 30 * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the addresses that were checked; the host name only names the site."""

    def __init__(
        self, host: str, port: int, addresses: Sequence[IPAddress], timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect_to_any(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked addresses; SNI and the certificate check use the host name."""

    def __init__(
        self, host: str, port: int, addresses: Sequence[IPAddress], timeout: float
    ) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._addresses = addresses

    def connect(self) -> None:
        sock = _connect_to_any(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _connect_to_any(
    addresses: Sequence[IPAddress], port: int, timeout: float | None
) -> socket.socket:
    last_error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout)
        except OSError as exc:
            last_error = exc
    raise last_error


def _post(
    url: SplitResult,
    addresses: Sequence[IPAddress],
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> int:
    """POST ``body`` and return the status; the answer's body is never read."""
    assert url.hostname is not None
    connection: http.client.HTTPConnection
    if url.scheme == "https":
        connection = _PinnedHTTPSConnection(url.hostname, url.port or 443, addresses, timeout_s)
    else:
        connection = _PinnedHTTPConnection(url.hostname, url.port or 80, addresses, timeout_s)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _status_error(status: int) -> str:
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        # Following would let a public receiver bounce the POST to an internal host.
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


def deliver_due(
    session: Session, allow_loopback: bool = False, limit: int = 100, timeout_s: float = 10.0
) -> dict[str, int]:
    """One worker pass over the due deliveries; returns counts by outcome."""
    now = clock.now()
    due = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    counts = {DELIVERED: 0, "retry": 0, FAILED: 0}
    for delivery in due:
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            delivery.status = FAILED
            delivery.last_error = "endpoint removed"
            counts[FAILED] += 1
            continue
        body = json.dumps({"id": delivery.id, **delivery.payload}, separators=(",", ":")).encode()
        stamp = int(clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Doorstep-Event": delivery.event_type,
            "Doorstep-Delivery": str(delivery.id),
            "Doorstep-Signature": sign(endpoint.secret, stamp, body),
        }
        delivery.attempts += 1
        try:
            url, addresses = resolve_safe(endpoint.url, allow_loopback)
            status = _post(url, addresses, body, headers, timeout_s)
            error = _status_error(status)
        except UnsafeWebhookUrl as exc:
            error = str(exc)
        except (OSError, http.client.HTTPException, UnicodeError) as exc:
            error = f"unreachable: {exc}"[:500]
        if not error:
            delivery.status = DELIVERED
            delivery.delivered_at = clock.now()
            counts[DELIVERED] += 1
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = FAILED
            delivery.last_error = error
            counts[FAILED] += 1
        else:
            delivery.last_error = error
            delivery.next_attempt_at = clock.now() + backoff(delivery.attempts)
            counts["retry"] += 1
    session.commit()
    return counts
