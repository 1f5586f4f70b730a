"""A worker killed mid-send: the message is never sent a second time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from backend.config import PROJECT_ROOT, Settings, parse_smtp_url
from backend.db.models import Stop
from backend.db.session import Database
from backend.domain.clock import SetClock
from backend.domain.notifications import Kind
from backend.notifications import worker
from backend.notifications.service import Outgoing, queue
from backend.notifications.transports import SmtpTransport, Transports
from tests.conftest import World
from tests.notifications.conftest import rows
from tests.notifications.servers import SmtpRecorder, SmtpServer


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_a_worker_killed_while_sending_leaves_the_message_failed_not_resent(
    app: Flask,
    database: Database,
    settings: Settings,
    world: World,
    stops: list[int],
    clock: SetClock,
    run_worker: Callable[..., dict[str, int]],
) -> None:
    with app.app_context(), database.session() as session:
        stop = session.get(Stop, stops[0])
        assert stop is not None
        queue(session, world.org_id, [Outgoing(Kind.DELIVERED, stop, "", {"order_number": "A"})])
        session.commit()
    # The server takes the message's DATA and then stalls, as a slow relay would.
    with SmtpServer(SmtpRecorder(stall_s=10)) as stalling:
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "DOORSTEP_SECRET_KEY": settings.secret_key,
            "DOORSTEP_SMTP_URL": stalling.url + "&timeout=60",
        }
        env.pop("DOORSTEP_SMS_URL", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "notify", "--once"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for(lambda: stalling.recorder.data_started == 1, 30)
        finally:
            process.kill()
            process.wait(10)
        [row] = rows(database, channel="email")
        # The claim was committed before the send began: the row says so.
        assert row.status == "sending"
        assert row.attempts == 1
        assert row.claimed_at is not None

        good = SmtpServer(SmtpRecorder())
        with good:
            transports = Transports(email=SmtpTransport(parse_smtp_url(good.url)))
            # Within the claim timeout the row is left alone: its worker may be alive.
            clock.set(row.claimed_at + worker.CLAIM_TIMEOUT - timedelta(seconds=5))
            assert run_worker(transports)["sent"] == 0
            assert rows(database, channel="email")[0].status == "sending"
            # Past it, the worker is presumed dead: failed, outcome unknown, not resent.
            clock.set(row.claimed_at + worker.CLAIM_TIMEOUT + timedelta(seconds=5))
            counts = run_worker(transports)
            assert counts["abandoned"] == 1
            assert counts["sent"] == 0
            assert run_worker(transports)["sent"] == 0
            assert good.recorder.received == []
        [after] = rows(database, channel="email")
        assert after.status == "failed"
        assert after.last_error == worker.OUTCOME_UNKNOWN
        assert stalling.recorder.data_started == 1
