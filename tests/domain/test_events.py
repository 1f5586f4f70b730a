from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.domain.events import EventRejected, EventType, event_fingerprint, parse_event

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "stop_id": 12,
        "type": "delivered",
        "recorded_at": "2026-11-24T17:00:00Z",
        "hlc": "001795539600000-000000-dev",
        "base_version": 1,
        "payload": {
            "recipient_name": "Dana",
            "geo": {"lat": 47.6, "lon": -122.3, "accuracy_m": 5, "fixed_at": None},
            "scanned_barcodes": ["PKG1"],
            "where_left": "front_door",
        },
        "evidence": [
            {"sha256": "a" * 64, "kind": "photo", "content_type": "image/jpeg", "size": 1000}
        ],
    }
    raw.update(changes)
    return raw


def _code(raw: dict[str, Any]) -> str:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw, "dev", NOW)
    return caught.value.code


def test_a_well_formed_delivery_parses() -> None:
    event = parse_event(_raw(), "dev", NOW)
    assert event.type is EventType.DELIVERED
    assert event.payload["geo"]["lat"] == 47.6
    assert event.evidence[0].size == 1000


def test_a_delivery_without_a_fix_says_so_with_null() -> None:
    payload = {**_raw()["payload"], "geo": None}
    assert parse_event(_raw(payload=payload), "dev", NOW).payload["geo"] is None


def test_a_delivery_must_state_its_geo_even_if_null() -> None:
    payload = {k: v for k, v in _raw()["payload"].items() if k != "geo"}
    assert _code(_raw(payload=payload)) == "invalid_geo"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"id": "123"}, "invalid_event_id"),
        ({"stop_id": True}, "invalid_stop"),
        ({"type": "teleported"}, "invalid_type"),
        ({"recorded_at": "2026-11-24 17:00"}, "invalid_time"),
        ({"hlc": "1-2-3"}, "invalid_hlc"),
        ({"base_version": "1"}, "invalid_base_version"),
        ({"extra": 1}, "unknown_field"),
        ({"payload": []}, "invalid_payload"),
        (
            {
                "evidence": [
                    {"sha256": "A" * 64, "kind": "photo", "content_type": "image/jpeg", "size": 1}
                ]
            },
            "invalid_evidence",
        ),
        (
            {
                "evidence": [
                    {"sha256": "a" * 64, "kind": "photo", "content_type": "text/html", "size": 1}
                ]
            },
            "invalid_evidence",
        ),
        (
            {
                "evidence": [
                    {"sha256": "a" * 64, "kind": "photo", "content_type": "image/png", "size": 0}
                ]
            },
            "invalid_evidence",
        ),
    ],
)
def test_each_rule_has_its_own_code(changes: dict[str, Any], code: str) -> None:
    assert _code(_raw(**changes)) == code


def test_the_fingerprint_changes_with_the_content_and_not_with_key_order() -> None:
    raw = _raw()
    same = dict(reversed(list(raw.items())))
    other = _raw(id=raw["id"], base_version=2)
    assert event_fingerprint(parse_event(raw, "dev", NOW)) == event_fingerprint(
        parse_event(same, "dev", NOW)
    )
    assert event_fingerprint(parse_event(raw, "dev", NOW)) != event_fingerprint(
        parse_event(other, "dev", NOW)
    )
