"""Location providers and the background sync's timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from driver_client.capture import PlyerLocation
from driver_client.sync import BackgroundSync, SyncReport
from driver_client.transport import Offline


def test_a_desktop_without_gps_records_no_fix_honestly() -> None:
    location = PlyerLocation()
    assert location.available is False
    assert location.current_fix() is None


def test_a_gps_reading_is_used_while_fresh_and_dropped_when_stale() -> None:
    clock = [datetime(2026, 11, 24, 17, tzinfo=UTC)]
    location = PlyerLocation(max_age_s=60, now=lambda: clock[0])
    location.on_location(lat=47.61, lon=-122.33, accuracy=7.0)
    fix = location.current_fix()
    assert fix is not None
    assert (fix.lat, fix.accuracy_m) == (47.61, 7.0)
    clock[0] += timedelta(seconds=61)
    assert location.current_fix() is None


def test_a_malformed_gps_reading_is_ignored() -> None:
    location = PlyerLocation()
    location.on_location(lat="north", lon=None)
    assert location.current_fix() is None


class _Transport:
    def __init__(self) -> None:
        self.up = False

    def reachable(self) -> bool:
        return self.up


class _Engine:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.transport = _Transport()

    def sync(self) -> SyncReport:
        self.calls += 1
        if self.calls <= self.failures:
            raise Offline("down")
        return SyncReport()


def test_failures_back_off_with_jitter_and_recover() -> None:
    background = BackgroundSync(_Engine(failures=3), interval_s=60)  # type: ignore[arg-type]
    delays = []
    for _ in range(3):
        background.run_once()
        delays.append(background.next_delay())
    assert background.last_error == "No connection to the server."
    assert all(0 <= d <= 2.0 ** (n + 1) for n, d in enumerate(delays))
    background.run_once()
    assert background.last_error is None
    assert background.next_delay() == 60


def test_a_nudge_syncs_at_once_instead_of_waiting_for_the_timer() -> None:
    engine = _Engine(failures=0)
    background = BackgroundSync(engine, interval_s=3600)  # type: ignore[arg-type]
    background.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while engine.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        background.nudge()
        while engine.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.calls == 2
    finally:
        background.stop()


def test_sync_resumes_as_soon_as_the_server_is_reachable_again() -> None:
    import time

    engine = _Engine(failures=1)
    background = BackgroundSync(engine, interval_s=3600, probe_every_s=0.05)  # type: ignore[arg-type]
    background.failures = 8  # deep in backoff: the next try could be minutes away
    background.start()
    try:
        deadline = time.monotonic() + 5
        while engine.calls < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert engine.calls == 1  # offline: waiting, probing
        engine.transport.up = True
        while engine.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.calls == 2
        assert background.last_error is None
    finally:
        background.stop()
