"""HTTP to the Doorstep API, with the token kept fresh.

Stdlib only (urllib), so the client has no dependencies beyond the shared domain code.
A 401 ``token_expired`` refreshes the token once and repeats the request, which is
always safe: every sync request and upload is idempotent.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from driver_client.store import Store


class Offline(Exception):
    """The server could not be reached (no network, server down, timeout)."""


class ServerRefused(Exception):
    """The server answered with an error status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def login_ended(self) -> bool:
        """The tokens are no good any more and only a new login helps: a password reset
        or a revoked device (``token_revoked``), a deactivated account
        (``account_inactive``), a stolen refresh token (``token_reused``). An expired
        access token never gets here: ``Transport.call`` refreshes it once, and a 401
        after that is one of these."""
        return self.status == 401


@dataclass
class Response:
    status: int
    body: Any


class Transport:
    def __init__(self, base_url: str, store: Store, timeout_s: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.timeout_s = timeout_s

    # -- raw ---------------------------------------------------------------------

    def send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:  # noqa: S310
                raw = reply.read()
                status = reply.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise Offline(str(exc)) from exc
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return Response(status, body)

    def reachable(self) -> bool:
        """Whether the server answers its health check right now (a cheap probe)."""
        try:
            return self.send("GET", f"{self.base_url}/healthz", None, {}).status == 200
        except Offline:
            return False

    # -- with authentication -------------------------------------------------------

    def login(self, username: str, password: str, device_id: str) -> None:
        reply = self.send(
            "POST",
            f"{self.base_url}/api/v1/auth/token",
            json.dumps(
                {"username": username, "password": password, "device_id": device_id}
            ).encode(),
            {"Content-Type": "application/json"},
        )
        self._keep_tokens(reply)

    def _keep_tokens(self, reply: Response) -> None:
        if reply.status != 200:
            body = reply.body or {}
            raise ServerRefused(reply.status, body.get("code", "error"), body.get("message", ""))
        with self.store.transaction() as db:
            self.store.put("access_token", reply.body["access_token"], db)
            self.store.put("refresh_token", reply.body["refresh_token"], db)
            # Someone else set the password: the server opens nothing else until the
            # driver chooses their own (change_password).
            change_due = "1" if reply.body.get("must_change_password") else ""
            self.store.put("must_change_password", change_due, db)

    def change_password(self, current_password: str, new_password: str) -> None:
        body = {"current_password": current_password, "new_password": new_password}
        reply = self.call(
            "POST",
            "/api/v1/auth/password",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        if reply.status != 200:
            refused = reply.body if isinstance(reply.body, dict) else {}
            raise ServerRefused(
                reply.status, refused.get("code", "error"), refused.get("message", "")
            )
        self.store.put("must_change_password", "")

    def refresh(self) -> None:
        reply = self.send(
            "POST",
            f"{self.base_url}/api/v1/auth/refresh",
            json.dumps({"refresh_token": self.store.get("refresh_token", "")}).encode(),
            {"Content-Type": "application/json"},
        )
        self._keep_tokens(reply)

    def call(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """An authenticated request; refreshes an expired token once and retries."""
        if not url.startswith("http"):
            url = f"{self.base_url}{url}"
        for attempt in range(2):
            all_headers = {
                **(headers or {}),
                "Authorization": f"Bearer {self.store.get('access_token', '')}",
            }
            reply = self.send(method, url, data, all_headers)
            code = (reply.body or {}).get("code") if isinstance(reply.body, dict) else None
            if reply.status == 401 and code == "token_expired" and attempt == 0:
                self.refresh()
                continue
            return reply
        return reply

    def post_json(self, path: str, body: Any) -> Response:
        data = gzip.compress(json.dumps(body, separators=(",", ":")).encode())
        return self.call(
            "POST",
            path,
            data,
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
