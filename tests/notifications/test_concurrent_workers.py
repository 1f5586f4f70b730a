"""Workers scale out: two at once on PostgreSQL never send a row twice."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from backend.config import Settings, parse_smtp_url
from backend.db.models import Stop
from backend.db.session import Database
from backend.domain.notifications import Kind
from backend.notifications.service import Outgoing, queue
from backend.notifications.transports import SmtpTransport, Transports
from backend.notifications.worker import send_due
from tests.conftest import World
from tests.factories import make_manifest
from tests.notifications.conftest import rows
from tests.notifications.servers import SmtpRecorder, SmtpServer

MESSAGES = 40


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_share_the_outbox_and_send_each_message_once(
    database: Database, settings: Settings, world: World
) -> None:
    with database.session() as session:
        manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=MESSAGES)
        stops = session.scalars(select(Stop).where(Stop.manifest_id == manifest.id)).all()
        for stop in stops:
            stop.recipient_email = f"r{stop.id}@example.com"
        queue(session, world.org_id, [Outgoing(Kind.DELIVERED, s, "", {}) for s in stops])
        session.commit()

    # Each message takes a little while, so the two workers' passes overlap.
    with SmtpServer(SmtpRecorder(stall_s=0.03)) as smtp:
        transports = Transports(email=SmtpTransport(parse_smtp_url(smtp.url)))
        sent_by: Counter[str] = Counter()
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(name: str) -> None:
            own = Database(settings.database_url)
            try:
                start.wait()
                while True:
                    with own.session() as session:
                        counts = send_due(
                            session, transports, settings.secret_key, settings.public_url, limit=4
                        )
                    if not counts["sent"]:
                        return
                    sent_by[name] += counts["sent"]
            except BaseException as exc:
                errors.append(exc)
            finally:
                own.dispose()

        threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        received = [r.envelope_to[0] for r in smtp.recorder.received]

    assert len(received) == MESSAGES
    assert len(set(received)) == MESSAGES, "a message went out twice"
    assert sent_by["a"] + sent_by["b"] == MESSAGES
    # Both took part: SKIP LOCKED handed them disjoint rows, not one after the other.
    assert sent_by["a"] > 0
    assert sent_by["b"] > 0
    assert {row.status for row in rows(database)} == {"sent"}
