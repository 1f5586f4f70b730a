"""Kill the device process (SIGKILL) at every step between capture and acknowledgement,
and at random moments; after each restart the database is intact and every capture the
driver saw confirmed is still there, and in the end reaches the server exactly once."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import PROJECT_ROOT
from backend.db.models import DoorEventRow
from demo.crash_worker import STEPS
from driver_client.device import Device
from tests.client.conftest import LiveServer
from tests.sync.helpers import png

RANDOM_KILLS = 70  # with 6 rounds of the 5 named steps: 100 kills


def _run_until_killed(
    data: Path, server: LiveServer, stops: str, kill_at: str, after_s: float | None
) -> set[str]:
    process = subprocess.Popen(  # noqa: S603 - our own worker
        [
            sys.executable,
            "-m",
            "demo.crash_worker",
            str(data),
            server.url,
            kill_at,
            "--stops",
            stops,
            "--clock-start",
            server.clock.now().isoformat(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    if after_s is not None:
        time.sleep(after_s)
        process.kill()
    out, _ = process.communicate(timeout=60)
    assert process.returncode == -9, f"the worker ended by itself ({process.returncode})"
    return {line.split()[1] for line in out.splitlines() if line.startswith("CONFIRMED ")}


def _check_intact(data: Path, confirmed: set[str]) -> None:
    db = sqlite3.connect(data / "device.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in db.execute("SELECT event_id FROM outbox")}
    finally:
        db.close()
    missing = confirmed - stored
    assert not missing, f"confirmed captures lost: {sorted(missing)}"


def test_sigkill_at_every_step_and_at_random_never_loses_a_confirmed_capture(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    data = tmp_path / "phone"
    setup = Device(data, server.url, now=server.clock.now)
    setup.login("driver_a", "pw")
    setup.engine.sync()
    setup.close()
    stops = ",".join(str(s) for s in stop_ids)
    rng = random.Random(20261124)
    confirmed: set[str] = set()
    schedule = [(step, None) for _ in range(6) for step in STEPS]
    schedule += [("none", rng.uniform(0.4, 1.2)) for _ in range(RANDOM_KILLS)]
    for kill_at, after_s in schedule:
        confirmed |= _run_until_killed(data, server, stops, kill_at, after_s)
        _check_intact(data, confirmed)
    assert len(confirmed) >= 50

    survivor = Device(data, server.url, now=server.clock.now)
    for _ in range(10):
        survivor.engine.sync()
        if survivor.store.pending_count() == 0:
            break
    assert survivor.store.pending_count() == 0
    survivor.close()
    session.rollback()
    on_server = list(session.scalars(select(DoorEventRow.event_id)))
    assert len(on_server) == len(set(on_server))
    assert confirmed <= set(on_server)


@pytest.mark.parametrize("failure", ["file", "commit"])
def test_a_full_disk_says_not_saved_and_keeps_earlier_captures(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    failure: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno
    import os

    from driver_client import capture as capture_module
    from driver_client.capture import Evidence, StorageFull

    device = Device(tmp_path / "phone", server.url, now=server.clock.now)
    device.login("driver_a", "pw")
    device.engine.sync()
    sig = Evidence(png("a"), "signature", "image/png")
    first = device.capture.deliver(stop_ids[0], "Dana", evidence=[sig])

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failure == "file":
        monkeypatch.setattr(capture_module.os, "fsync", no_space)
    else:
        real = device.store.put

        def full_at_commit(key: str, value: object, db: object = None) -> None:
            if key == "hlc":
                raise sqlite3.OperationalError("database or disk is full")
            real(key, value, db)  # type: ignore[arg-type]

        monkeypatch.setattr(device.store, "put", full_at_commit)
    other = Evidence(png("b"), "signature", "image/png")
    with pytest.raises(StorageFull) as refused:
        device.capture.deliver(stop_ids[1], "Bo", evidence=[other])
    assert "not saved" in refused.value.reasons[0]
    rows = device.store.query("SELECT event_id FROM outbox")
    assert [r["event_id"] for r in rows] == [first["id"]]
    device.close()
