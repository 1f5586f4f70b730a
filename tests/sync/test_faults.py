"""Faults: a database failure mid-batch leaves nothing behind, and the retry works;
an unreachable file store leaves events accepted and files pending."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend.db.models import Conflict, DoorEventRow, EvidenceFile, PlanChange, Proof
from backend.evidence.storage import S3Store
from tests.sync import plan_ops
from tests.sync.helpers import Device, png, ref


def _counts(session: Session) -> dict[str, int]:
    session.rollback()
    return {
        model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (DoorEventRow, Proof, EvidenceFile, Conflict, PlanChange)
    }


def test_a_database_failure_mid_batch_leaves_no_partial_state_and_the_retry_succeeds(
    device: Device, stops: list[int], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.sync import service

    plan_ops.cancel(session, stops[2])
    before = _counts(session)
    events = [
        device.event(stops[0], evidence=[ref(png("a"))]),
        device.event(stops[1], "failed"),
        device.event(stops[2], evidence=[ref(png("c"))]),
    ]
    real = service.rederive_stops

    def fail_after_writing(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Events, files and proofs are written and statuses updated; then the
        # connection drops before the commit.
        real(*args, **kwargs)
        raise OperationalError("UPDATE stop", {}, Exception("connection reset"))

    monkeypatch.setattr(service, "rederive_stops", fail_after_writing)
    response = device.sync(events)
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"
    assert _counts(session) == before

    monkeypatch.setattr(service, "rederive_stops", real)
    retry = device.sync(events).get_json()["results"]
    assert [r["status"] for r in retry] == ["applied", "applied", "conflict"]
    after = _counts(session)
    assert after["DoorEventRow"] == 3
    assert after["Proof"] == 2


def test_an_unreachable_file_store_keeps_events_and_leaves_files_pending(
    app: Flask,
    device: Device,
    stops: list[int],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    app.extensions["doorstep.store"] = S3Store(
        "evidence", f"http://127.0.0.1:{dead_port}", "us-east-1"
    )
    body = device.sync([device.event(stops[0], evidence=[ref(png("a"))])]).get_json()
    assert body["results"][0]["status"] == "applied"
    assert body["results"][0]["stop_status"] == "evidence_pending"
    assert _counts(session)["EvidenceFile"] == 1
    response = device.client.post(
        f"/api/v1/evidence/{ref(png('a'))['sha256']}/complete", headers=device.headers
    )
    assert response.status_code == 503
    assert response.get_json()["code"] == "store_unavailable"
