"""The Android-only paths, run against fakes of android, jnius and plyer."""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from typing import Any

import pytest

from backend.domain.clock import SetClock
from driver_client.android import service, sync_service
from driver_client.android.launch import apply_answer, server_address
from driver_client.android.location import LocationAfterPermission
from driver_client.android.permissions import ASKS, Answer, Need, request, sdk_int
from driver_client.capture import FixedLocation, PlyerLocation
from driver_client.photos import NoCamera
from tests.phone.fakes import FakeGps, FakeJava, FakePermissions

CAMERA = "android.permission.CAMERA"
FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"
NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"


def _ask(api: FakePermissions, sdk: int = 34) -> Answer:
    answers: list[Answer] = []
    request(api, sdk, answers.append)
    [answer] = answers
    return answer


# -- runtime permissions ------------------------------------------------------------------


def test_the_app_asks_only_for_what_it_does_not_hold() -> None:
    api = FakePermissions(held={CAMERA}, will_allow={FINE_LOCATION, NOTIFICATIONS})
    answer = _ask(api)
    assert api.asked == [[FINE_LOCATION, NOTIFICATIONS]]
    assert answer.granted == {Need.CAMERA, Need.LOCATION, Need.NOTIFICATIONS}
    assert answer.explanation() == ""


def test_nothing_is_asked_when_everything_is_held() -> None:
    api = FakePermissions(held={CAMERA, FINE_LOCATION, NOTIFICATIONS})
    assert _ask(api).refused == ()
    assert api.asked == []


def test_a_refusal_says_what_the_driver_cannot_do_and_where_to_allow_it() -> None:
    api = FakePermissions(will_allow={FINE_LOCATION, NOTIFICATIONS})
    answer = _ask(api)
    assert [ask.need for ask in answer.refused] == [Need.CAMERA]
    assert "cannot take delivery photos" in answer.explanation()
    assert "Settings > Apps > Doorstep driver > Permissions" in answer.explanation()


def test_notifications_are_not_asked_for_before_android_13() -> None:
    api = FakePermissions(will_allow={CAMERA, FINE_LOCATION})
    answer = _ask(api, sdk=32)
    assert api.asked == [[CAMERA, FINE_LOCATION]]
    assert answer.refused == ()


def test_the_android_version_is_read_from_the_phone() -> None:
    assert sdk_int(FakeJava(sdk_int=33)) == 33


def test_every_permission_asked_at_runtime_is_declared_in_the_spec() -> None:
    from tests.phone.test_android_spec import _spec

    declared = {f"android.permission.{p}" for p in _spec().getlist("app", "android.permissions")}
    assert {ask.android_name for ask in ASKS} <= declared


# -- GPS ------------------------------------------------------------------------------------


@pytest.fixture
def gps(monkeypatch: pytest.MonkeyPatch) -> FakeGps:
    fake = FakeGps()
    monkeypatch.setitem(sys.modules, "plyer", types.SimpleNamespace(gps=fake))
    return fake


def test_the_gps_starts_only_once_location_is_allowed(gps: FakeGps, clock: SetClock) -> None:
    location = LocationAfterPermission(lambda: PlyerLocation(now=clock.now))
    told: list[tuple[str, str]] = []
    apply_answer(Answer(frozenset(), ASKS[1:2]), location, lambda t, m: told.append((t, m)))
    assert not gps.started
    assert location.current_fix() is None
    assert "no position" in told[0][1]

    apply_answer(Answer(frozenset({Need.LOCATION}), ()), location, lambda t, m: told.append((t, m)))
    assert gps.started
    assert gps.on_location is not None
    gps.on_location(lat=47.669, lon=-122.379, accuracy=8.0)
    fix = location.current_fix()
    assert fix is not None
    assert (fix.lat, fix.lon, fix.accuracy_m) == (47.669, -122.379, 8.0)
    assert len(told) == 1  # nothing refused the second time, nothing to say


def test_a_stale_or_malformed_fix_is_recorded_as_no_fix(gps: FakeGps, clock: SetClock) -> None:
    location = PlyerLocation(max_age_s=120, now=clock.now)
    assert gps.on_location is not None
    gps.on_location(lat=47.669, lon=-122.379, accuracy=8.0)
    clock.advance(timedelta(seconds=121))
    assert location.current_fix() is None
    gps.on_location(lat="north", lon=-122.379)
    assert location.current_fix() is None


def test_without_plyer_s_gps_every_capture_says_no_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plyer", None)  # import fails, as on a bare desktop
    location = PlyerLocation()
    assert not location.available
    assert location.current_fix() is None


# -- the foreground sync service -------------------------------------------------------------


def test_the_app_starts_and_stops_the_sync_service_by_its_java_class() -> None:
    java = FakeJava()
    service.start_sync_service(java)
    service.stop_sync_service(java)
    assert java.calls == [
        (service.SERVICE_CLASS, "start", ("the activity", "")),
        (service.SERVICE_CLASS, "stop", ("the activity",)),
    ]


def test_the_service_stops_itself_when_done() -> None:
    java = FakeJava()
    sync_service.stop_self(java)
    assert java.calls == [("org.kivy.android.PythonService", "stopSelf", ())]


class _Syncer:
    """Offline for ``offline_rounds`` syncs, then each sync clears the outbox."""

    def __init__(self, waiting: int, offline_rounds: int, login_ends_at: int = 0) -> None:
        self.waiting = waiting
        self.offline_rounds = offline_rounds
        self.login_ends_at = login_ends_at
        self.login_ended = False
        self.rounds = 0

    def run_once(self) -> None:
        self.rounds += 1
        if self.rounds == self.login_ends_at:
            self.login_ended = True
        elif self.rounds > self.offline_rounds:
            self.waiting = 0

    def next_delay(self) -> float:
        return 30.0


class _Time:
    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds


def test_the_service_syncs_through_a_dead_zone_until_nothing_waits() -> None:
    syncer, time = _Syncer(waiting=3, offline_rounds=2), _Time()
    done = sync_service.drain(
        syncer, lambda: syncer.waiting, sleep=time.sleep, monotonic=lambda: time.elapsed
    )
    assert done
    assert syncer.rounds == 3
    assert time.sleeps == [30.0, 30.0]


def test_the_service_gives_up_when_its_budget_is_spent() -> None:
    syncer, time = _Syncer(waiting=3, offline_rounds=1000), _Time()
    done = sync_service.drain(
        syncer,
        lambda: syncer.waiting,
        budget_s=100.0,
        sleep=time.sleep,
        monotonic=lambda: time.elapsed,
    )
    assert not done
    assert time.elapsed == 100.0
    assert time.sleeps == [30.0, 30.0, 30.0, 10.0]


def test_the_service_stops_when_the_login_ended_and_leaves_the_outbox_waiting() -> None:
    # A password reset mid-shift: retrying for an hour cannot help, the app must ask
    # the driver to log in, and what waits stays for the next login.
    syncer, time = _Syncer(waiting=3, offline_rounds=1000, login_ends_at=2), _Time()
    done = sync_service.drain(
        syncer, lambda: syncer.waiting, sleep=time.sleep, monotonic=lambda: time.elapsed
    )
    assert not done
    assert (syncer.rounds, syncer.waiting) == (2, 3)


def test_with_nothing_waiting_the_service_does_not_sync() -> None:
    syncer = _Syncer(waiting=0, offline_rounds=0)
    assert sync_service.drain(syncer, lambda: syncer.waiting)
    assert syncer.rounds == 0


# -- the app's Android lifecycle ---------------------------------------------------------------


class _Store:
    def __init__(self, pending: int) -> None:
        self.pending = pending

    def pending_count(self) -> int:
        return self.pending


class _Device:
    def __init__(self, pending: int) -> None:
        self.store = _Store(pending)


def _phone_app(pending: int, api: FakePermissions, events: list[str]) -> Any:
    from driver_client.android.phone_app import PhoneApp

    return PhoneApp(
        _Device(pending),
        NoCamera(),
        LocationAfterPermission(lambda: FixedLocation(1.0, 2.0)),
        permission_api=lambda: api,
        sdk=lambda: 34,
        start_service=lambda: events.append("start service"),
        stop_service=lambda: events.append("stop service"),
        tell=lambda title, text: events.append(f"told: {text}"),
    )


def test_going_to_the_background_with_captures_waiting_starts_the_service() -> None:
    events: list[str] = []
    waiting, empty = (
        _phone_app(2, FakePermissions(), events),
        _phone_app(0, FakePermissions(), events),
    )
    assert waiting.on_pause() is True
    assert empty.on_pause() is True
    assert events == ["start service"]
    waiting.on_resume()
    assert events == ["start service", "stop service"]


def test_on_start_the_app_asks_and_tells_the_driver_on_kivys_thread() -> None:
    from kivy.clock import Clock

    events: list[str] = []
    app = _phone_app(0, FakePermissions(will_allow={FINE_LOCATION, NOTIFICATIONS}), events)
    app.on_start()
    assert events == []  # the answer is handed to Kivy's thread, not handled on Android's
    Clock.tick()
    [told] = events
    assert "cannot take delivery photos" in told
    assert app.location.current_fix() is not None


def test_the_server_is_the_one_the_apk_was_built_for(tmp_path: Any) -> None:
    built = tmp_path / "server.txt"
    assert server_address(built) == "http://10.0.2.2:8000"
    built.write_text("https://doorstep.example.org\n")
    assert server_address(built) == "https://doorstep.example.org"


# -- the APK's entry points, wired with fakes of Android's modules -----------------------------


@pytest.fixture
def phone(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> FakeJava:
    """python-for-android's ``android`` package and pyjnius, as the APK sees them."""
    java = FakeJava()
    storage = types.SimpleNamespace(app_storage_path=lambda: str(tmp_path / "app"))
    android = types.SimpleNamespace(
        storage=storage, permissions=FakePermissions(), activity=types.SimpleNamespace()
    )
    monkeypatch.setitem(sys.modules, "android", android)
    monkeypatch.setitem(sys.modules, "android.storage", storage)
    monkeypatch.setitem(sys.modules, "jnius", types.SimpleNamespace(autoclass=java, cast=None))
    return java


def test_the_apk_starts_the_app_with_the_phones_storage_camera_and_gps(
    phone: FakeJava, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from driver_client.android import launch
    from driver_client.android.camera import CameraIntentSource
    from driver_client.android.phone_app import PhoneApp

    started: list[Any] = []
    monkeypatch.setattr(PhoneApp, "run", lambda app: started.append(app))
    launch.main()
    [app] = started
    assert app.device.data_dir == tmp_path / "app" / "doorstep"
    assert (tmp_path / "app" / "doorstep" / "device.db").exists()
    assert isinstance(app.photo_source, CameraIntentSource)
    assert app.photo_source.stamp.location is app.location
    assert app.device.capture.location is app.location  # "no fix" until location is allowed
    assert app.location.current_fix() is None


def test_the_service_with_nothing_waiting_stops_itself_at_once(phone: FakeJava) -> None:
    sync_service.main()
    assert phone.calls == [("org.kivy.android.PythonService", "stopSelf", ())]


def test_the_driver_sees_the_fixs_precision_and_age_or_that_there_is_none(
    clock: SetClock,
) -> None:
    from driver_client.capture import Fix
    from driver_client.fixes import describe_fix

    fresh = Fix(47.6, -122.3, 8.4, clock.now())
    assert describe_fix(fresh, clock.now()) == "Position within 8 m, just now."
    assert describe_fix(fresh, clock.now() + timedelta(seconds=40)) == (
        "Position within 8 m, 40 s ago."
    )
    assert describe_fix(None, clock.now()) == (
        "No position fix: the delivery will be saved without a position."
    )
