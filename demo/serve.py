"""``python -m demo serve``: `make demo`'s second half, the simulated day served live.

Beside the server (gunicorn, the one command line every server here runs) it runs:

* the mailbox (demo.mailbox), a real SMTP server on a free loopback port, in this
  process: the server and the worker get ``DOORSTEP_SMTP_URL`` pointing at it;
* the notification worker, ``doorstep notify``, sending the outbox every 2 seconds;
* the live driver (demo.live), driving :data:`demo.day.LIVE_DRIVER`'s open stops.

It prints the console's address, the mailbox folder and the tracking links of the live
driver's stops, then waits. Ctrl-C (or SIGTERM) stops each child by its pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sqlalchemy import func, select

from backend.config import PROJECT_ROOT, load_settings
from backend.db.models import Notification
from backend.db.session import Database
from backend.domain.clock import local_date, system_now
from backend.domain.notifications import Status
from backend.serving import gunicorn_command
from demo import mailbox
from demo.app import WSGI_APP
from demo.day import LIVE_DRIVER, STAFF_LOGINS, database_path, evidence_dir, live_links
from demo.devserver import free_port
from demo.seed_data import METRO_TIMEZONE

WORKER_EVERY_S = "2"
# Seconds the live driver waits before setting off: time to open a link first.
LIVE_WAIT_S = "30"
# The live driver's next stops whose links the banner prints (the console has the rest).
LINKS_SHOWN = 5


class Stop(Exception):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


class Backlog:
    """Counts the messages caught before ``live`` is set, printing only those to the
    recipients whose links the banner showed (``shown``); prints each one after."""

    def __init__(self) -> None:
        self.live = threading.Event()
        self.shown: set[str] = set()
        self.count = 0

    def announce(self, caught: mailbox.Caught) -> None:
        if self.live.is_set() or caught.tracking_url in self.shown:
            mailbox.print_line(caught)
        else:
            self.count += 1


def _outbox_drained(database: Database) -> bool:
    """Whether the worker has taken everything that is due. (A row a killed worker left
    ``sending`` is not waited for: the next worker gives up on it after its timeout.)"""
    with database.session() as session:
        waiting = session.scalar(
            select(func.count()).where(
                Notification.status == Status.PENDING.value,
                Notification.next_attempt_at <= system_now(),
            )
        )
    return not waiting


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the demo server did not start") from None
            time.sleep(0.2)


def _terminate(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop each child we started, by its pid: SIGTERM, then SIGKILL if it hangs."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def serve(folder: Path, bind: str, workers: int, live: bool = True) -> int:
    folder = folder.resolve()
    password = os.environ.get("DOORSTEP_DEMO_PASSWORD") or "demo"
    smtp_port = free_port()
    base = f"http://{bind}"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database_path(folder)}",
        "DOORSTEP_STORAGE_DIR": str(evidence_dir(folder)),
        "DOORSTEP_SECRETS_DIR": str(folder),
        "DOORSTEP_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?starttls=0",
        "DOORSTEP_PUBLIC_URL": base,
    }
    backlog = Backlog()
    mail = mailbox.start(folder / "mailbox", smtp_port, backlog.announce)
    processes: list[subprocess.Popen[bytes]] = []
    database = Database(environment["DATABASE_URL"])
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            gunicorn_command(bind, workers, app=WSGI_APP), env=environment, cwd=PROJECT_ROOT
        )
        processes.append(server)
        _wait_until_up(base, server)
        processes.append(
            subprocess.Popen(  # noqa: S603 - this interpreter, our own worker
                [sys.executable, "-m", "backend.cli", "notify", "--every", WORKER_EVERY_S],
                env=environment,
                cwd=PROJECT_ROOT,
            )
        )
        backlog.shown = _banner(folder, base, password, live)
        # The simulated day queued hundreds of messages (out for delivery to every open
        # stop, each delivery and failure): counted, not listed, so the banner's links
        # stay on screen; once they are sent every new message gets its line. The live
        # driver sets off only then: behind that queue, an "arriving soon" would leave
        # after the driver had come (and the worker drops it as stale).
        while server.poll() is None:
            if not backlog.live.is_set() and _outbox_drained(database):
                backlog.live.set()
                print(
                    f"mailbox: {backlog.count} message(s) of the simulated day are in "
                    f"{folder}/mailbox/; new ones are listed as they come",
                    flush=True,
                )
                if live:
                    processes.append(_live_driver(folder, base, password, environment))
                    print(f"live: {LIVE_DRIVER} sets off in {LIVE_WAIT_S} s", flush=True)
            time.sleep(1)
        return server.returncode or 0
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        _terminate(processes)
        mail.stop()
        database.dispose()


def _live_driver(
    folder: Path, base: str, password: str, environment: dict[str, str]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - this interpreter, our own driver
        [
            sys.executable,
            "-m",
            "demo",
            "live",
            *("--folder", str(folder), "--server", base),
            *("--password", password, "--wait", LIVE_WAIT_S),
        ],
        env=environment,
        cwd=PROJECT_ROOT,
    )


def _banner(folder: Path, base: str, password: str, live: bool) -> set[str]:
    """Print where everything is; returns the tracking links it showed."""
    settings = load_settings(
        database_url=f"sqlite:///{database_path(folder)}",
        storage_dir=evidence_dir(folder),
        secrets_dir=folder,
    )
    today = local_date(system_now(), METRO_TIMEZONE)
    links = live_links(settings.database_url, settings.secret_key, today)
    print(f"\nServing the demo day in {folder}/ on {base}")
    print(f"  console:  {base}/console")
    print(f"  logins:   {' / '.join(STAFF_LOGINS)}, password '{password}'")
    print(f"  mailbox:  every e-mail sent lands in {folder}/mailbox/ (one line each below")
    print("            once the simulated day's are sent, and at once for these recipients)")
    if live:
        print(
            f"  {LIVE_DRIVER} is still on the road: they drive on live once the simulated "
            "day's mail is out\n  (a minute or two). Their next recipients' tracking links "
            "(open one on a phone):"
        )
    else:
        print(f"  {LIVE_DRIVER}'s next recipients' tracking links:")
    shown = [(order_number, f"{base}{path}") for order_number, path in links[:LINKS_SHOWN]]
    for order_number, url in shown:
        print(f"    {order_number}  {url}")
    print("  Ctrl-C to stop", flush=True)
    return {url for _, url in shown}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo serve",
        description="Serve a demo day with a mailbox, the notification worker and a live driver.",
    )
    parser.add_argument("--folder", type=Path, default=Path("var/demo"))
    parser.add_argument("--bind", default="127.0.0.1:8000", metavar="HOST:PORT")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-live", action="store_true", help="no live driver")
    args = parser.parse_args(argv)
    return serve(args.folder, args.bind, args.workers, live=not args.no_live)


if __name__ == "__main__":
    sys.exit(main())
