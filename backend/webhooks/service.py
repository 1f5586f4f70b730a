"""Registering endpoints, queueing events, and delivering them with retries.

Queueing happens in the same transaction as the change that caused the event (an
outbox), so an event is never lost and never sent for a change that rolled back.
Delivery is a separate worker pass (`doorstep webhooks`): it takes due rows, POSTs
them signed, and on failure schedules the next attempt with exponential backoff and
jitter, in the table, so a restart resumes where it stopped.

Signature: header ``Doorstep-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"`` with the endpoint's secret; receivers should also reject stale
``t`` values to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import WebhookDelivery, WebhookEndpoint
from backend.webhooks.safety import UnsafeWebhookUrl, check_webhook_url

EVENT_TYPES = ("delivered", "failed", "exception", "dispute")
MAX_ATTEMPTS = 12
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


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


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


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
            check_webhook_url(endpoint.url, allow_loopback)
            status = _post(endpoint.url, body, headers, timeout_s)
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except UnsafeWebhookUrl as exc:
            error = str(exc)
        except OSError as exc:
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
