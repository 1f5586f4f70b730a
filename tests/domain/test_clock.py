"""The two ways an instant is written: API text and a signed receipt's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from backend.domain.clock import receipt_time, utc_text

WITH_MICROS = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
WHOLE_SECOND = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_api_text_keeps_the_microseconds_and_writes_utc_as_z() -> None:
    assert utc_text(WITH_MICROS) == "2026-03-04T05:06:07.890123Z"
    assert utc_text(WHOLE_SECOND) == "2026-03-04T05:06:07Z"
    assert utc_text(None) is None


def test_a_receipt_time_is_always_utc_to_the_millisecond() -> None:
    assert receipt_time(WITH_MICROS) == "2026-03-04T05:06:07.890Z"
    assert receipt_time(WHOLE_SECOND) == "2026-03-04T05:06:07.000Z"
    seattle = WITH_MICROS.astimezone(timezone(timedelta(hours=-8)))
    assert receipt_time(seattle) == "2026-03-04T05:06:07.890Z"
