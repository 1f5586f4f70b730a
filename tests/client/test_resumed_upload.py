"""A photo upload the network cuts at 80% continues, at the next sync, from the bytes
the server already holds: only the remaining 20% is sent again."""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from backend.evidence.storage import LocalStore
from backend.wiring import evidence_store
from driver_client import sync
from driver_client.capture import Evidence
from driver_client.transport import Response
from tests.client.conftest import LiveServer
from tests.client.test_device import SIGNATURE, _logged_in, _server_status
from tests.conftest import World
from tests.sync.helpers import noise_jpeg, ref

PHOTO = Evidence(noise_jpeg(400, 300), "photo", "image/jpeg")


class _Link:
    """The phone's network: counts the bytes of each file it sends, and drops the
    connection once ``cut_at`` bytes of the file named ``cut_sha`` have gone (then the
    signal comes back)."""

    def __init__(self) -> None:
        self.cut_sha = ""
        self.cut_at = 0
        self.sent: Counter[str] = Counter()

    def wrap(self, url: str, body: IO[bytes]) -> _LinkBody:
        return _LinkBody(self, url.rsplit("/", 1)[-1], body)

    def read(self, sha: str, body: IO[bytes], size: int) -> bytes:
        if sha == self.cut_sha:
            left = self.cut_at - self.sent[sha]
            if left <= 0:
                self.cut_sha = ""
                raise ConnectionResetError("the phone lost its signal")
            size = left if size < 0 else min(size, left)
        chunk = body.read(size)
        self.sent[sha] += len(chunk)
        return chunk


class _LinkBody:
    """A request body as http.client reads it, through the link."""

    def __init__(self, link: _Link, sha: str, body: IO[bytes]) -> None:
        self.link, self.sha, self.body = link, sha, body

    def read(self, size: int = -1) -> bytes:
        return self.link.read(self.sha, self.body, size)


def _through(link: _Link, send: Any) -> Any:
    def send_through_link(method: str, url: str, data: Any, headers: dict[str, str]) -> Response:
        if method == "PUT":
            headers = {**headers, "Content-Length": str(len(data))}
            data = link.wrap(url, io.BytesIO(data))
        reply: Response = send(method, url, data, headers)
        return reply

    return send_through_link


def _held_by_server(app: Flask, org_id: int, sha: str, expected: int) -> int:
    """The bytes the server holds once it has finished with the broken request (its
    thread may still be winding it up when the device gives up)."""
    with app.app_context():
        store = evidence_store()
    assert isinstance(store, LocalStore)
    deadline = time.monotonic() + 5
    while (held := store.partial_offset(org_id, sha)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return held


def test_an_upload_cut_at_80_percent_resumes_with_the_remaining_bytes(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size, sha = len(PHOTO.data), ref(PHOTO.data)["sha256"]
    cut = size * 8 // 10
    device = _logged_in(tmp_path, server)
    # Several pieces to a file, so the cut falls inside one after others were answered.
    monkeypatch.setattr(sync, "UPLOAD_CHUNK", 32 * 1024)
    link = _Link()
    transport = device.engine.transport
    monkeypatch.setattr(transport, "send", _through(link, transport.send))
    device.capture.deliver(stop_ids[0], "Dana", evidence=[SIGNATURE, PHOTO])

    link.cut_sha, link.cut_at = sha, cut
    report = device.engine.sync()
    assert (report.acknowledged, report.uploaded, report.upload_failures) == (1, 1, 1)
    assert link.sent[sha] == cut
    assert _server_status(session, stop_ids[0]) == "evidence_pending"
    assert _held_by_server(server.app, world.org_id, sha, cut) == cut

    report = device.engine.sync()
    assert (report.uploaded, report.upload_failures) == (1, 0)
    assert link.sent[sha] == size  # the first sync's 80%, then only the rest
    assert _server_status(session, stop_ids[0]) == "delivered"
    assert device.store.query("SELECT uploaded FROM files")[0]["uploaded"] == 1
