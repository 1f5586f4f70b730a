"""A real HTTP server on loopback that tests can stop and start, to play 'offline'."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from backend.domain.clock import Clock
from tests.conftest import World
from tests.factories import make_manifest


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.clock: Clock = app.extensions["doorstep.clock"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: BaseWSGIServer | None = None

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # The client's behaviour does not depend on the server's database; one is enough.
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def server(app: Flask) -> Iterator[LiveServer]:
    live = LiveServer(app)
    live.start()
    yield live
    live.stop()


@pytest.fixture
def stop_ids(session: Session, world: World) -> list[int]:
    from sqlalchemy import select

    from backend.db.models import Stop

    manifest = make_manifest(
        session,
        world.org_id,
        world.users["driver_a"],
        stops=3,
    )
    session.commit()
    return list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )
