"""Local uploads: every bad upload is a clear 4xx and leaves the file pending."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from backend.domain.events import MAX_FILE_BYTES
from tests.sync.helpers import Device, files_by_hash, png, ref


def _owe_one(device: Device, stops: list[int]) -> tuple[bytes, str]:
    data = png("sig")
    device.sync([device.event(stops[0], evidence=[ref(data)])])
    return data, hashlib.sha256(data).hexdigest()


def test_bytes_that_do_not_match_the_hash_are_refused(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    data, sha = _owe_one(device, stops)
    forged = data[:-1] + b"?"
    response = client.put(
        f"/api/v1/evidence/{sha}",
        data=forged,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert (response.status_code, response.get_json()["code"]) == (422, "hash_mismatch")
    assert len(device.sync().get_json()["uploads"]) == 1


def test_a_body_of_another_size_is_refused(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    data, sha = _owe_one(device, stops)
    response = client.put(
        f"/api/v1/evidence/{sha}",
        data=data + b"x",
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert (response.status_code, response.get_json()["code"]) == (422, "size_mismatch")


def test_a_body_of_another_content_type_is_refused(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    data, sha = _owe_one(device, stops)
    response = client.put(
        f"/api/v1/evidence/{sha}",
        data=data,
        headers={**device.headers, "Content-Type": "image/jpeg"},
    )
    assert (response.status_code, response.get_json()["code"]) == (422, "content_type_mismatch")


def test_a_non_image_content_type_is_a_415(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    data, sha = _owe_one(device, stops)
    response = client.put(
        f"/api/v1/evidence/{sha}",
        data=data,
        headers={**device.headers, "Content-Type": "text/html"},
    )
    assert response.status_code == 415


def test_a_file_no_event_references_is_refused(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    stray = png("nobody asked")
    response = client.put(
        f"/api/v1/evidence/{hashlib.sha256(stray).hexdigest()}",
        data=stray,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert (response.status_code, response.get_json()["code"]) == (404, "file_not_referenced")


def test_a_path_instead_of_a_hash_is_a_404(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    response = client.put(
        "/api/v1/evidence/..%2F..%2Fetc%2Fpasswd",
        data=b"x",
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert response.status_code == 404


def test_a_second_upload_of_a_held_file_is_a_harmless_no_op(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    data, sha = _owe_one(device, stops)
    headers = {**device.headers, "Content-Type": "image/png"}
    assert client.put(f"/api/v1/evidence/{sha}", data=data, headers=headers).status_code == 200
    again = client.put(f"/api/v1/evidence/{sha}", data=b"", headers=headers)
    assert again.status_code == 200
    assert again.get_json()["verified"] is True


def test_support_can_download_a_verified_file(
    device: Device,
    stops: list[int],
    client: FlaskClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    data, sha = _owe_one(device, stops)
    client.put(
        f"/api/v1/evidence/{sha}",
        data=data,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    response = client.get(f"/api/v1/evidence/{sha}", headers=auth("support"))
    assert response.status_code == 200
    assert response.data == data
    assert response.mimetype == "image/png"


class _StalledBody(io.RawIOBase):
    """A request body that sends its first half, then waits to be released."""

    def __init__(self, data: bytes, released: threading.Event) -> None:
        self._first, self._rest = data[: len(data) // 2], data[len(data) // 2 :]
        self.started = threading.Event()
        self._released = released

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk, self._first = self._first, b""
        if not chunk:
            self.started.set()
            self._released.wait(timeout=STALL_AT_MOST_S)
            chunk, self._rest = self._rest, b""
        buffer[: len(chunk)] = chunk
        return len(chunk)


STALL_AT_MOST_S = 10


def test_a_slow_upload_does_not_hold_up_other_writers(
    device: Device, device_b: Device, stops: list[int], client: FlaskClient, app: Flask
) -> None:
    # A photo trickling in over a bad network must not hold the write transaction:
    # on SQLite every other writer (here another driver's sync) would wait for it.
    data, sha = _owe_one(device, stops)
    released = threading.Event()
    body = _StalledBody(data, released)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upload = pool.submit(
            app.test_client().put,
            f"/api/v1/evidence/{sha}",
            # Sizes the request; the server reads the stalled stream in its place.
            data=bytes(len(data)),
            environ_overrides={"wsgi.input": io.BufferedReader(body)},
            headers={**device.headers, "Content-Type": "image/png"},
        )
        try:
            assert body.started.wait(timeout=STALL_AT_MOST_S)
            started = time.monotonic()
            other = device_b.sync()
            waited = time.monotonic() - started
        finally:
            released.set()
        assert upload.result().status_code == 200
    assert other.status_code == 200, other.get_json()
    assert waited < STALL_AT_MOST_S / 2, f"the sync waited {waited:.1f} s for the upload"
    assert device.sync().get_json()["uploads"] == []


def test_any_file_an_event_may_declare_can_be_uploaded_whole(
    device: Device, stops: list[int], client: FlaskClient
) -> None:
    # Bigger than the API's 16 MiB body limit, within the 20 MiB an event may declare:
    # refused, it would have left the stop evidence_pending for ever.
    noise = Image.frombytes("RGB", (2400, 2400), random.Random(3).randbytes(2400 * 2400 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    data = out.getvalue()
    assert 16 * 1024 * 1024 < len(data) <= MAX_FILE_BYTES
    body = device.sync([device.event(stops[0], evidence=[ref(data, "photo")])]).get_json()
    device.upload_owed(body, files_by_hash(data))
    assert device.sync().get_json()["uploads"] == []
