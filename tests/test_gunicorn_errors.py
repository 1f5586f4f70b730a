"""gunicorn's own refusals, and chunked bodies over the limit, answer in the API's
JSON error shape: a real gunicorn (demo.devserver, the worker class of
backend.serving), spoken to with raw sockets so nothing tidies the bytes on the way.
"""

from __future__ import annotations

import gzip
import json
import runpy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.cli import migrate
from backend.config import load_settings
from backend.serving import error_document, gunicorn_command
from demo.devserver import background_server

LIMIT = 16 * 1024 * 1024  # Settings.max_content_length's default


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    # A database of its own: the failed logins below must not reach other tests.
    folder = tmp_path_factory.mktemp("gunicorn")
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{folder / 'gunicorn.db'}",
        storage_dir=folder / "evidence",
        secrets_dir=folder,
    )
    migrate(settings)
    assert settings.max_content_length == LIMIT
    with background_server(settings, workers=1) as base:
        yield int(base.rsplit(":", 1)[1])


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request``, read one response: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed mid-headers: {received!r}"
            received += chunk
        head, body = received.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in header_lines)
        }
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            body += chunk
    return int(status_line.split(" ")[1]), headers, body[:length]


def _assert_error_shape(
    response: tuple[int, dict[str, str], bytes], status: int, code: str
) -> dict[str, Any]:
    got_status, headers, body = response
    assert got_status == status, body
    assert headers["content-type"].startswith("application/json")
    document: dict[str, Any] = json.loads(body)
    assert document["status"] == status
    assert document["code"] == code
    assert isinstance(document["message"], str)
    assert document["message"]
    return document


def _chunked(body: bytes, chunk_size: int = 64 * 1024) -> bytes:
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def test_an_over_long_request_line_is_a_json_414(server_port: int) -> None:
    request = b"GET /api/v1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    _assert_error_shape(_exchange(server_port, request), 414, "uri_too_long")


def test_too_many_headers_is_a_json_431(server_port: int) -> None:
    headers = b"".join(b"X-Filler-%d: y\r\n" % i for i in range(150))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    _assert_error_shape(_exchange(server_port, request), 431, "headers_too_large")


def test_an_over_large_header_is_a_json_431(server_port: int) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n"
    _assert_error_shape(_exchange(server_port, request), 431, "headers_too_large")


def test_bytes_that_are_not_http_are_a_json_400(server_port: int) -> None:
    document = _assert_error_shape(
        _exchange(server_port, b"NOT HTTP AT ALL\r\n\r\n"), 400, "bad_request"
    )
    assert "NOT" not in document["message"]  # the request is not echoed back


def test_a_chunked_body_over_the_limit_is_a_json_413(server_port: int) -> None:
    # Before: werkzeug read MAX_CONTENT_LENGTH bytes and stopped, so the body reached
    # the view truncated (a 400 malformed_body), not refused.
    body = b'{"username": "' + b"a" * LIMIT + b'"}'
    request = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body)
    )
    _assert_error_shape(_exchange(server_port, request), 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_reaches_the_view(server_port: int) -> None:
    body = json.dumps({"username": "nobody", "password": "wrong", "device_id": "d1"}).encode()
    request = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunked(body, chunk_size=7)
    )
    _assert_error_shape(_exchange(server_port, request), 401, "invalid_credentials")


def test_a_chunked_gzip_body_is_inflated(server_port: int) -> None:
    # Before: the gzip middleware read Content-Length (absent) bytes: "corrupt" (400).
    body = json.dumps({"username": "nobody", "password": "wrong", "device_id": "d1"}).encode()
    request = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        + _chunked(gzip.compress(body), chunk_size=5)
    )
    _assert_error_shape(_exchange(server_port, request), 401, "invalid_credentials")


def test_every_status_gunicorn_answers_itself_has_a_stable_code() -> None:
    for status, code in [(400, "bad_request"), (414, "uri_too_long"), (431, "headers_too_large")]:
        head, body = error_document(status, "Reason").split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 %d Reason\r\n" % status)
        assert b"Content-Length: %d\r\n" % len(body) in head
        assert json.loads(body)["code"] == code


def test_the_project_serves_with_the_json_error_worker() -> None:
    root = Path(__file__).parent.parent
    config = runpy.run_path(str(root / "backend" / "gunicorn_conf.py"))
    assert config["worker_class"] == "backend.serving.JsonErrorThreadWorker"
    # One command line, with that configuration, for every server: the Makefile's go
    # through `doorstep serve`, which runs it, and never spell out one of their own.
    command = gunicorn_command("127.0.0.1:8000", 2)
    assert command[1:3] == ["--config", str(root / "backend" / "gunicorn_conf.py")]
    makefile = (root / "Makefile").read_text()
    assert "SERVE = $(BIN)/doorstep serve " in makefile
    assert "$(BIN)/gunicorn" not in makefile
