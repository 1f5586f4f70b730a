"""Real servers for the notification tests: SMTP (aiosmtpd) and an HTTP recorder
that speaks Twilio's Messages API."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage


@dataclass
class SmtpRecorder:
    """An SMTP handler keeping what it accepted; ``answers`` are given (in order)
    instead of accepting, e.g. "451 4.3.0 try later"; ``stall_s`` makes DATA hang."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    data_started: int = 0
    stall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self.lock:
            self.data_started += 1
            answer = self.answers.pop(0) if self.answers else None
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        if answer is not None:
            return answer
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"


class SmtpServer:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder
        # A free port picked here: the controller checks it is up by connecting to it.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.controller = Controller(recorder, hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}?starttls=0"


@dataclass
class SmsRequest:
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


class SmsRecorder:
    """A local HTTP server answering like Twilio: 201 with a sid, or the queued
    ``answers`` (status, JSON body) first."""

    ACCOUNT = "AC" + "0123456789abcdef" * 2

    def __init__(self) -> None:
        self.requests: list[SmsRequest] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                recorder.requests.append(
                    SmsRequest(self.path, dict(self.headers.items()), parse_qs(body))
                )
                if recorder.answers:
                    status, answer = recorder.answers.pop(0)
                else:
                    status = 201
                    answer = {"sid": f"SM{len(recorder.requests):032d}", "status": "queued"}
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SmsRecorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return (
            f"twilio://{self.ACCOUNT}:secret-token@api.twilio.com"
            f"?from=%2B15550001111&base=http://127.0.0.1:{port}"
        )
