"""The console shows times in the organization's zone, keeping the UTC instant."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.console.clock import local_time


def test_an_instant_is_shown_in_local_time_with_the_utc_instant_kept() -> None:
    html = str(local_time(datetime(2026, 11, 25, 20, 5, tzinfo=UTC), "America/Los_Angeles"))
    assert ">2026-11-25 12:05 PST<" in html
    assert 'datetime="2026-11-25T20:05:00Z"' in html


def test_iso_strings_from_the_api_are_read_and_summer_time_is_honoured() -> None:
    html = str(local_time("2026-07-01T19:30:00Z", "America/Los_Angeles", "%H:%M"))
    assert ">12:30 PDT<" in html


def test_an_unknown_zone_falls_back_to_utc_and_nothing_shows_a_dash() -> None:
    assert ">2026-11-25 20:05 UTC<" in str(local_time("2026-11-25T20:05:00+00:00", "Mars/Olympus"))
    assert str(local_time(None, "UTC")) == "—"
    assert str(local_time("not a time", "UTC")) == "—"


def test_nothing_in_a_time_can_inject_markup() -> None:
    html = str(local_time("2026-11-25T20:05:00Z", "UTC", "<b>%H</b>"))
    assert "<b>" not in html
    assert "&lt;b&gt;20&lt;/b&gt;" in html
