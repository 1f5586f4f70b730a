"""``python -m demo mailbox``: the demo's mail catcher, a real SMTP server on loopback.

`make demo`'s notification worker hands its e-mail to this server
(``DOORSTEP_SMTP_URL=smtp://127.0.0.1:<port>?starttls=0``); every message is kept as
an ``.eml`` file under the mailbox folder (var/demo/mailbox/) and announced with one
line: to whom, the subject and the tracking link it carries, so a person running the
demo can open the link the recipient got.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

DEFAULT_FOLDER = Path("var/demo/mailbox")
TRACKING_LINK = re.compile(r"https?://\S+/t/[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Caught:
    to: str
    subject: str
    tracking_url: str
    path: Path


def tracking_link(message: EmailMessage) -> str:
    """The first tracking link in the message's plain-text part ('' when none)."""
    part = message.get_body(("plain",))
    text = part.get_content() if part is not None else ""
    found = TRACKING_LINK.search(str(text))
    return found.group(0) if found else ""


@dataclass
class Mailbox:
    """The aiosmtpd handler: keep each message in ``folder`` and tell ``announce``."""

    folder: Path
    announce: Callable[[Caught], None] = lambda caught: None
    caught: list[Caught] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    numbered: int = 0

    def __post_init__(self) -> None:
        # Numbered after the files a previous run left (the demo may be served again).
        self.numbered = len(list(self.folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content: bytes = envelope.content
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.numbered += 1
            path = self.folder / f"{self.numbered:05d}.eml"
            path.write_bytes(content)
            caught = Caught(
                to=", ".join(envelope.rcpt_tos),
                # A long subject arrives folded over two lines.
                subject=" ".join(str(message["Subject"] or "").split()),
                tracking_url=tracking_link(message),
                path=path,
            )
            self.caught.append(caught)
        self.announce(caught)
        return "250 OK"


def print_line(caught: Caught) -> None:
    print(f"mail to {caught.to}: {caught.subject}  {caught.tracking_url}", flush=True)


def start(folder: Path, port: int, announce: Callable[[Caught], None] = print_line) -> Controller:
    """A running SMTP server on 127.0.0.1:``port`` keeping mail in ``folder``."""
    controller = Controller(Mailbox(folder, announce), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo mailbox", description="A local SMTP server that keeps every message."
    )
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    controller = start(args.folder, args.port)
    print(f"mailbox: smtp://127.0.0.1:{args.port}, keeping mail in {args.folder}/", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
