"""Local uploads resume: the server says how many bytes it holds of a broken upload and
takes the rest with a Content-Range; bytes nobody resumes for a day are removed."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.domain.clock import SetClock
from backend.evidence.retention import remove_abandoned_uploads
from backend.wiring import evidence_store
from tests.sync.helpers import Device, jpeg, ref


def _owe_one(device: Device, stops: list[int]) -> tuple[bytes, str]:
    data = jpeg("door")  # a real JPEG: the server decodes it once complete
    device.sync([device.event(stops[0], evidence=[ref(data, "photo", "image/jpeg")])])
    return data, hashlib.sha256(data).hexdigest()


def _put_range(device: Device, sha: str, data: bytes, start: int, end: int) -> object:
    return device.client.put(
        f"/api/v1/evidence/{sha}",
        data=data[start : end + 1],
        headers={
            **device.headers,
            "Content-Type": "image/jpeg",
            "Content-Range": f"bytes {start}-{end}/{len(data)}",
        },
    )


def _offset(device: Device, sha: str) -> int:
    response = device.client.get(f"/api/v1/evidence/{sha}/upload", headers=device.headers)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Upload-Offset"] == str(response.get_json()["offset"])
    offset: int = response.get_json()["offset"]
    return offset


def _login_again(device: Device) -> str:
    response = device.client.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": device.device_id},
    )
    token: str = response.get_json()["access_token"]
    return token


def _status(session: Session, stop_id: int) -> str:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop.status.value


def test_an_upload_broken_at_80_percent_continues_from_the_bytes_held(
    device: Device, stops: list[int], session: Session
) -> None:
    data, sha = _owe_one(device, stops)
    cut = len(data) * 8 // 10
    assert _offset(device, sha) == 0
    first = _put_range(device, sha, data, 0, cut - 1)
    assert first.status_code == 202  # type: ignore[attr-defined]
    assert first.get_json() == {"sha256": sha, "verified": False, "offset": cut}  # type: ignore[attr-defined]
    assert _status(session, stops[0]) == "evidence_pending"
    assert _offset(device, sha) == cut
    rest = _put_range(device, sha, data, cut, len(data) - 1)
    assert rest.status_code == 200, rest.get_json()  # type: ignore[attr-defined]
    assert rest.get_json() == {"sha256": sha, "verified": True}  # type: ignore[attr-defined]
    assert _status(session, stops[0]) == "delivered"
    assert _offset(device, sha) == len(data)
    assert device.sync().get_json()["uploads"] == []


def test_a_range_starting_past_the_bytes_held_is_told_the_offset(
    device: Device, stops: list[int]
) -> None:
    data, sha = _owe_one(device, stops)
    _put_range(device, sha, data, 0, 99)
    response = _put_range(device, sha, data, 200, len(data) - 1)
    assert response.status_code == 409  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert (body["code"], body["errors"]["offset"]) == ("upload_offset_mismatch", 100)
    assert response.headers["Upload-Offset"] == "100"  # type: ignore[attr-defined]


def test_a_whole_body_put_still_works_and_restarts_a_partial(
    device: Device, stops: list[int]
) -> None:
    data, sha = _owe_one(device, stops)
    _put_range(device, sha, b"x" * len(data), 0, 99)  # garbage a broken upload left
    response = device.client.put(
        f"/api/v1/evidence/{sha}",
        data=data,
        headers={**device.headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200, response.get_json()


def test_bad_content_ranges_are_refused(device: Device, stops: list[int]) -> None:
    data, sha = _owe_one(device, stops)
    headers = {**device.headers, "Content-Type": "image/jpeg"}
    cases = {
        "bytes=0-9/10": (400, "invalid_content_range"),
        f"bytes 9-0/{len(data)}": (400, "invalid_content_range"),
        f"bytes 0-{len(data)}/{len(data)}": (400, "invalid_content_range"),
        f"bytes 0-9/{len(data) + 1}": (422, "size_mismatch"),
        f"bytes 0-19/{len(data)}": (422, "size_mismatch"),  # the body is 10 bytes
    }
    for content_range, expected in cases.items():
        response = device.client.put(
            f"/api/v1/evidence/{sha}",
            data=data[:10],
            headers={**headers, "Content-Range": content_range},
        )
        answer = (response.status_code, response.get_json()["code"])
        assert answer == expected, content_range
    assert _offset(device, sha) == 0


def test_a_wrong_resumed_file_is_refused_and_starts_over(device: Device, stops: list[int]) -> None:
    data, sha = _owe_one(device, stops)
    forged = b"x" * 100 + data[100:]
    _put_range(device, sha, forged, 0, 99)
    response = _put_range(device, sha, data, 100, len(data) - 1)
    assert (response.status_code, response.get_json()["code"]) == (422, "hash_mismatch")  # type: ignore[attr-defined]
    assert _offset(device, sha) == 0


def test_uploads_abandoned_for_a_day_are_removed_by_the_retention_job(
    app: Flask,
    device: Device,
    stops: list[int],
    clock: SetClock,
) -> None:
    data, sha = _owe_one(device, stops)
    _put_range(device, sha, data, 0, 99)
    with app.app_context():
        store = evidence_store()
    assert remove_abandoned_uploads(store, clock.now() + timedelta(hours=23)) == []
    assert _offset(device, sha) == 100
    clock.advance(timedelta(hours=25))
    assert len(remove_abandoned_uploads(store, clock.now())) == 1
    device.headers = {"Authorization": f"Bearer {_login_again(device)}"}  # a day later
    assert _offset(device, sha) == 0
    # The device starts over, and the file still arrives.
    assert _put_range(device, sha, data, 0, len(data) - 1).status_code == 200  # type: ignore[attr-defined]
