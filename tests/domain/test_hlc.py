from __future__ import annotations

import pytest

from backend.domain.hlc import ClockDriftError, HLCTimestamp, HybridLogicalClock


def test_string_order_is_clock_order() -> None:
    stamps = [
        HLCTimestamp(5, 0, "b"),
        HLCTimestamp(5, 1, "a"),
        HLCTimestamp(40, 0, "a"),
        HLCTimestamp(1_000_000_000_000, 999_999, "z"),
        HLCTimestamp(5, 0, "a"),
    ]
    assert sorted(stamps) == sorted(stamps, key=str)


def test_a_stamp_round_trips_through_its_string() -> None:
    stamp = HLCTimestamp(1764003482114, 3, "handheld-7")
    assert str(stamp) == "001764003482114-000003-handheld-7"
    assert HLCTimestamp.parse(str(stamp)) == stamp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12-1-a",
        "001764003482114-000003-",
        "001764003482114-000003-bad node",
        "001764003482114-0000003-a",
        "x" * 200,
        "001764003482114-000003-" + "n" * 65,
    ],
)
def test_malformed_stamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any malformed stamp
        HLCTimestamp.parse(text)


def test_ticks_never_go_backwards_when_the_wall_clock_does() -> None:
    now = [1000]
    clock = HybridLogicalClock("dev", lambda: now[0])
    first = clock.tick()
    now[0] = 500  # the device clock was set back
    second = clock.tick()
    third = clock.tick()
    assert first < second < third
    assert second.wall_ms == 1000


def test_observing_a_later_remote_orders_after_it() -> None:
    clock = HybridLogicalClock("a", lambda: 1000)
    remote = HLCTimestamp(2000, 7, "b")
    assert clock.observe(remote) > remote
    assert clock.tick() > remote


def test_a_remote_clock_far_in_the_future_is_not_believed() -> None:
    clock = HybridLogicalClock("server", lambda: 1000, max_drift_ms=60_000)
    with pytest.raises(ClockDriftError):
        clock.observe(HLCTimestamp(1000 + 61_000, 0, "device"))
    assert clock.tick().wall_ms == 1000


def test_state_survives_a_restart_without_reissuing_a_stamp() -> None:
    now = [1000]
    clock = HybridLogicalClock("dev", lambda: now[0])
    last = [clock.tick() for _ in range(3)][-1]
    restored = HybridLogicalClock.restore(clock.state(), lambda: now[0])
    assert restored.tick() > last
