"""Pushing events: exactly once, per-event results, evidence owed and uploaded."""

from __future__ import annotations

import gzip
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, Proof, Stop
from tests.sync.helpers import Device, png, ref


def _stop(session: Session, stop_id: int) -> Stop:
    session.rollback()  # end the read snapshot: see what the API committed
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop


def _count(session: Session, model: type) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_delivery_is_applied_sealed_and_its_files_requested(
    device: Device, stops: list[int], session: Session
) -> None:
    signature, photo = png("sig"), png("photo")
    event = device.event(stops[0], evidence=[ref(signature), ref(photo, "photo")])
    body = device.sync([event]).get_json()
    [result] = body["results"]
    assert result["status"] == "applied"
    assert result["stop_status"] == "evidence_pending"
    assert result["receipt"]["alg"] == "Ed25519"
    assert {u["sha256"] for u in body["uploads"]} == {
        ref(signature)["sha256"],
        ref(photo)["sha256"],
    }
    assert _stop(session, stops[0]).status.value == "evidence_pending"
    assert _count(session, Proof) == 1


def test_uploading_every_file_completes_the_proof(
    device: Device, stops: list[int], session: Session, client: FlaskClient
) -> None:
    signature = png("sig")
    body = device.sync([device.event(stops[0], evidence=[ref(signature)])]).get_json()
    [upload] = body["uploads"]
    assert upload["method"] == "PUT"
    response = client.put(
        upload["url"].removeprefix("http://localhost"),
        data=signature,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.get_json()
    assert _stop(session, stops[0]).status.value == "delivered"
    assert device.sync().get_json()["uploads"] == []


def test_a_file_the_server_holds_is_never_requested_again(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    signature = png("shared")
    first = device.sync([device.event(stops[0], evidence=[ref(signature)])]).get_json()
    client.put(
        first["uploads"][0]["url"].removeprefix("http://localhost"),
        data=signature,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    second = device.sync([device.event(stops[1], evidence=[ref(signature)])]).get_json()
    assert second["results"][0]["stop_status"] == "delivered"
    assert second["uploads"] == []


def test_resending_an_event_changes_nothing_and_answers_duplicate(
    device: Device, stops: list[int], session: Session
) -> None:
    event = device.event(stops[0], "failed")
    first = device.sync([event]).get_json()["results"][0]
    again = device.sync([event, event]).get_json()["results"]
    assert first["status"] == "applied"
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert again[0]["original_status"] == "applied"
    assert _count(session, DoorEventRow) == 1


def test_the_same_id_twice_in_one_batch_is_applied_once(
    device: Device, stops: list[int], session: Session
) -> None:
    event = device.event(stops[0], "arrived")
    results = device.sync([event, event]).get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "duplicate"]
    assert _count(session, DoorEventRow) == 1


def test_the_same_id_with_other_content_is_refused(device: Device, stops: list[int]) -> None:
    event = device.event(stops[0], "failed")
    device.sync([event])
    altered = {**event, "payload": {"reason": "refused"}}
    [result] = device.sync([altered]).get_json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "event_id_reused")


def test_one_bad_event_does_not_block_the_others(
    device: Device, stops: list[int], session: Session
) -> None:
    good = device.event(stops[0], "arrived")
    bad = device.event(stops[1], "failed", payload={"reason": "bored"})
    results = device.sync([bad, good]).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["code"] == "invalid_reason"
    assert _stop(session, stops[0]).status.value == "arrived"


@pytest.mark.parametrize(
    ("geo", "code", "field"),
    [
        ({"lat": 91, "lon": 0, "accuracy_m": 5}, "invalid_geo", "payload.geo.lat"),
        ({"lat": 0, "lon": -181, "accuracy_m": 5}, "invalid_geo", "payload.geo.lon"),
        ({"lat": 0, "lon": 0, "accuracy_m": -1}, "invalid_geo", "payload.geo.accuracy_m"),
        ({"lat": "47.6", "lon": 0, "accuracy_m": 5}, "invalid_geo", "payload.geo.lat"),
        ({"lat": 0, "lon": 0}, "invalid_geo", "payload.geo.accuracy_m"),
        ({"lat": 0, "lon": 0, "accuracy_m": 5, "alt": 3}, "unknown_field", "payload.geo"),
        (
            {"lat": 0, "lon": 0, "accuracy_m": 5, "fixed_at": "yesterday"},
            "invalid_time",
            "payload.geo.fixed_at",
        ),
    ],
)
def test_bad_geo_stamps_are_rejected_with_the_field_named(
    device: Device,
    stops: list[int],
    geo: dict,
    code: str,
    field: str,  # type: ignore[type-arg]
) -> None:
    payload = {
        "recipient_name": "x",
        "geo": geo,
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    [result] = device.sync([device.event(stops[0], payload=payload)]).get_json()["results"]
    assert (result["status"], result["code"], result["field"]) == ("rejected", code, field)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(
    device: Device, stops: list[int], client: FlaskClient, literal: str
) -> None:
    event = device.event(
        stops[0], "arrived", payload={"geo": {"lat": 1, "lon": 2, "accuracy_m": 3}}
    )
    raw = json.dumps({"device_id": device.device_id, "cursor": None, "events": [event]})
    raw = raw.replace('"lat": 1', f'"lat": {literal}')
    response = client.post(
        "/api/v1/sync", data=raw, headers={**device.headers, "Content-Type": "application/json"}
    )
    if response.status_code == 200:
        [result] = response.get_json()["results"]
        assert (result["status"], result["code"]) == ("rejected", "invalid_geo")
    else:
        assert response.status_code in (400, 422)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"recorded_at": "not a time"}, "invalid_time"),
        ({"recorded_at": "2026-11-24T17:00:00"}, "invalid_time"),
        ({"hlc": "12:00"}, "invalid_hlc"),
        ({"id": "not-a-uuid"}, "invalid_event_id"),
        ({"type": "teleported"}, "invalid_type"),
        ({"base_version": 0}, "invalid_base_version"),
        ({"base_version": 99}, "invalid_base_version"),
        ({"surprise": True}, "unknown_field"),
        (
            {
                "evidence": [
                    {"sha256": "abc", "kind": "photo", "content_type": "image/png", "size": 1}
                ]
            },
            "invalid_evidence",
        ),
    ],
)
def test_malformed_events_are_rejected_with_stable_codes(
    device: Device,
    stops: list[int],
    change: dict,
    code: str,  # type: ignore[type-arg]
) -> None:
    event = {**device.event(stops[0]), **change}
    [result] = device.sync([event]).get_json()["results"]
    assert (result["status"], result["code"]) == ("rejected", code)


def test_evidence_on_an_arrival_is_refused(device: Device, stops: list[int]) -> None:
    event = device.event(stops[0], "arrived", evidence=[ref(png("x"))])
    [result] = device.sync([event]).get_json()["results"]
    assert result["code"] == "evidence_not_allowed"


def test_failure_for_other_reasons_needs_a_note(device: Device, stops: list[int]) -> None:
    event = device.event(stops[0], "failed", payload={"reason": "other"})
    [result] = device.sync([event]).get_json()["results"]
    assert result["code"] == "note_required"


def test_events_for_a_stop_never_assigned_to_the_driver_are_rejected(
    device_b: Device, stops: list[int], session: Session
) -> None:
    [result] = device_b.sync([device_b.event(stops[0])]).get_json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "stop_not_assigned")
    assert _count(session, DoorEventRow) == 0


def test_events_for_a_stop_that_does_not_exist_are_rejected(
    device: Device, stops: list[int]
) -> None:
    [result] = device.sync([device.event(999_999)]).get_json()["results"]
    assert result["code"] == "stop_not_assigned"


def test_an_oversized_batch_is_refused_whole(
    device: Device, stops: list[int], session: Session
) -> None:
    events = [device.event(stops[0], "note") for _ in range(501)]
    response = device.sync(events)
    assert response.status_code == 413
    assert response.get_json()["code"] == "batch_too_large"
    assert _count(session, DoorEventRow) == 0


def test_a_sync_for_another_device_is_refused(device: Device, stops: list[int]) -> None:
    device.device_id = "someone-elses-phone"
    response = device.sync([])
    assert response.status_code == 403
    assert response.get_json()["code"] == "device_mismatch"


@pytest.mark.parametrize("role", ["dispatcher", "support"])
def test_only_drivers_sync(client: FlaskClient, stops: list[int], auth, role: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/sync", json={"device_id": "x", "cursor": None, "events": []}, headers=auth(role)
    )
    assert response.status_code == 403


def test_a_gzipped_batch_is_accepted(device: Device, stops: list[int], client: FlaskClient) -> None:
    body = {
        "device_id": device.device_id,
        "cursor": None,
        "events": [device.event(stops[0], "note")],
    }
    response = client.post(
        "/api/v1/sync",
        data=gzip.compress(json.dumps(body).encode()),
        headers={**device.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "applied"


def test_a_corrupt_gzip_body_is_a_400(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    response = client.post(
        "/api/v1/sync",
        data=b"\x1f\x8b not really gzip",
        headers={**device.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "malformed_body"


def test_a_gzip_bomb_is_refused(device: Device, stops: list[int], client: FlaskClient, app) -> None:  # type: ignore[no-untyped-def]
    bomb = gzip.compress(b"[" + b" " * (app.config["MAX_CONTENT_LENGTH"] + 10) + b"]")
    response = client.post(
        "/api/v1/sync",
        data=bomb,
        headers={**device.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413


def test_an_event_with_a_nul_character_is_rejected_alone(
    device: Device, stops: list[int], session: Session
) -> None:
    from tests.sync.helpers import default_payload

    poisoned = device.event(
        stops[0], payload={**default_payload("delivered"), "recipient_name": "Ann\x00Lee"}
    )
    fine = device.event(stops[1])
    response = device.sync([poisoned, fine])
    assert response.status_code == 200
    bad, good = response.get_json()["results"]
    assert (bad["status"], bad["code"]) == ("rejected", "invalid_payload")
    assert good["status"] == "applied"
    assert _count(session, DoorEventRow) == 1
