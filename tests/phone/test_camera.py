"""Photos through the phone's camera intent (against fakes of Android), and the time and
place each photo was taken kept in the delivery event, never in the file."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow
from backend.domain.clock import SetClock
from backend.domain.events import EventRejected, parse_event
from backend.domain.hlc import HLCTimestamp
from driver_client.android.camera import REQUEST_CODE, RESULT_OK, CameraIntentSource
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
from driver_client.photos import FileSource, NoCamera, Photo, Stamper
from tests.client.conftest import LiveServer
from tests.sync.helpers import png


def _seattle(now: Callable[[], datetime]) -> FixedLocation:
    return FixedLocation(47.611, -122.331, 6.0, now)


def _camera_jpeg() -> bytes:
    """A phone camera's picture: EXIF with the maker and the camera's own GPS."""
    image = Image.new("RGB", (2000, 1500), (90, 120, 60))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (47.0, 36.0, 40.0), 3: "W", 4: (122.0, 19.0, 52.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


# -- fakes of Android: the activity, MediaStore, the intent and the camera app -----------------


@dataclass
class FakeAndroid:
    """Just enough of Android for the image-capture intent; ``camera_writes`` is what the
    camera app writes into the entry it was handed."""

    folder: Path
    camera_writes: bytes = b""
    inserted: list[dict[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    started: list[tuple[Any, int]] = field(default_factory=list)

    def uri_path(self, uri: str) -> Path:
        return self.folder / uri.rsplit("/", 1)[1]

    def __call__(self, name: str) -> Any:
        android = self

        class ContentResolver:
            def insert(self, table: str, values: dict[str, str]) -> str:
                android.inserted.append(values)
                return f"{table}/{len(android.inserted)}"

            def openFileDescriptor(self, uri: str, mode: str) -> Any:  # noqa: N802 - Java's
                import os

                fd = os.open(android.uri_path(uri), os.O_RDONLY)
                return type("ParcelFileDescriptor", (), {"detachFd": lambda _self: fd})()

            def delete(self, uri: str, *_where: Any) -> int:
                android.deleted.append(uri)
                return 1

        class Activity:
            def getContentResolver(self) -> ContentResolver:  # noqa: N802 - Java's
                return ContentResolver()

            def startActivityForResult(self, intent: Any, code: int) -> None:  # noqa: N802
                android.started.append((intent, code))
                android.uri_path(intent.extras["output"]).write_bytes(android.camera_writes)

        class Intent:
            FLAG_GRANT_WRITE_URI_PERMISSION = 2

            def __init__(self, action: str) -> None:
                self.action, self.extras, self.flags = action, {}, 0

            def putExtra(self, key: str, value: Any) -> None:  # noqa: N802 - Java's
                self.extras[key] = value

            def addFlags(self, flags: int) -> None:  # noqa: N802 - Java's
                self.flags |= flags

        classes: dict[str, Any] = {
            "org.kivy.android.PythonActivity": type("PA", (), {"mActivity": Activity()}),
            "android.provider.MediaStore": type(
                "MS", (), {"ACTION_IMAGE_CAPTURE": "capture", "EXTRA_OUTPUT": "output"}
            ),
            "android.content.ContentValues": lambda: type(
                "CV", (dict,), {"put": dict.__setitem__}
            )(),
            "android.provider.MediaStore$Images$Media": type(
                "M", (), {"EXTERNAL_CONTENT_URI": "content://media/images"}
            ),
            "android.content.Intent": Intent,
        }
        return classes[name]


@dataclass
class FakeActivityEvents:
    bound: list[Callable[..., None]] = field(default_factory=list)

    def bind(self, **callbacks: Callable[..., None]) -> None:
        self.bound.append(callbacks["on_activity_result"])

    def unbind(self, **callbacks: Callable[..., None]) -> None:
        self.bound.remove(callbacks["on_activity_result"])


Answer = tuple[Photo | None, str]


def _source(
    android: FakeAndroid, clock: SetClock, allowed: bool = True
) -> tuple[CameraIntentSource, FakeActivityEvents, list[str]]:
    events, handed_to_ui = FakeActivityEvents(), []

    def to_ui(done: Callable[[Photo | None, str], None]) -> Callable[[Photo | None, str], None]:
        def on_ui(photo: Photo | None, problem: str) -> None:
            handed_to_ui.append("ui")
            done(photo, problem)

        return on_ui

    source = CameraIntentSource(
        Stamper(_seattle(clock.now), clock.now),
        events,
        camera_allowed=lambda: allowed,
        to_ui=to_ui,
        load=android,
        cast=lambda _name, value: value,
    )
    return source, events, handed_to_ui


def test_a_photo_comes_back_from_the_camera_app_stamped_and_leaves_no_copy(
    tmp_path: Path, clock: SetClock
) -> None:
    android = FakeAndroid(tmp_path, camera_writes=_camera_jpeg())
    source, events, handed_to_ui = _source(android, clock)
    answers: list[Answer] = []
    source.take(lambda photo, problem: answers.append((photo, problem)))

    [(intent, code)] = android.started
    assert (intent.action, code) == ("capture", REQUEST_CODE)
    assert intent.extras["output"] == "content://media/images/1"
    assert intent.flags & intent.FLAG_GRANT_WRITE_URI_PERMISSION
    assert android.inserted[0]["mime_type"] == "image/jpeg"
    assert answers == []  # nothing until the camera app is done

    clock.advance(timedelta(seconds=20))  # the driver frames the door
    events.bound[0](REQUEST_CODE, RESULT_OK, None)
    [(photo, problem)] = answers
    assert photo is not None
    assert problem == ""
    assert photo.data == android.camera_writes
    assert abs(photo.taken_at - clock.now()) < timedelta(seconds=1)
    assert photo.geo is not None
    assert (photo.geo["lat"], photo.geo["lon"]) == (47.611, -122.331)
    assert android.deleted == ["content://media/images/1"]  # not left in the gallery
    assert events.bound == []
    assert handed_to_ui == ["ui"]


def test_a_cancelled_camera_takes_no_photo_and_leaves_no_entry(
    tmp_path: Path, clock: SetClock
) -> None:
    android = FakeAndroid(tmp_path)
    source, events, _ = _source(android, clock)
    answers: list[Answer] = []
    source.take(lambda photo, problem: answers.append((photo, problem)))
    events.bound[0](REQUEST_CODE, 0, None)  # RESULT_CANCELED
    assert answers == [(None, "No photo was taken.")]
    assert android.deleted == ["content://media/images/1"]


def test_an_empty_picture_is_not_a_photo(tmp_path: Path, clock: SetClock) -> None:
    android = FakeAndroid(tmp_path, camera_writes=b"")
    source, events, _ = _source(android, clock)
    answers: list[Answer] = []
    source.take(lambda photo, problem: answers.append((photo, problem)))
    events.bound[0](REQUEST_CODE, RESULT_OK, None)
    assert answers == [(None, "The camera returned no picture: try again.")]


def test_another_activitys_result_is_not_the_photo(tmp_path: Path, clock: SetClock) -> None:
    android = FakeAndroid(tmp_path, camera_writes=_camera_jpeg())
    source, events, _ = _source(android, clock)
    answers: list[Answer] = []
    source.take(lambda photo, problem: answers.append((photo, problem)))
    events.bound[0](REQUEST_CODE + 1, RESULT_OK, None)
    assert answers == []
    assert len(events.bound) == 1


def test_without_the_camera_permission_the_driver_is_told_why(
    tmp_path: Path, clock: SetClock
) -> None:
    android = FakeAndroid(tmp_path)
    source, _, _ = _source(android, clock, allowed=False)
    answers: list[Answer] = []
    source.take(lambda photo, problem: answers.append((photo, problem)))
    [(photo, problem)] = answers
    assert photo is None
    assert "cannot take delivery photos" in problem
    assert android.started == []


def test_the_desktop_sources_answer_with_a_photo_or_a_reason(
    tmp_path: Path, clock: SetClock
) -> None:
    answers: list[Answer] = []
    picture = tmp_path / "door.jpg"
    picture.write_bytes(_camera_jpeg())
    FileSource(picture, Stamper(_seattle(clock.now), clock.now)).take(
        lambda p, m: answers.append((p, m))
    )
    FileSource(tmp_path / "gone.jpg", Stamper(_seattle(clock.now), clock.now)).take(
        lambda p, m: answers.append((p, m))
    )
    NoCamera().take(lambda p, m: answers.append((p, m)))
    assert answers[0][0] is not None
    assert answers[0][0].data == picture.read_bytes()
    assert answers[1][0] is None
    assert "could not be read" in answers[1][1]
    assert answers[2] == (None, "This device cannot take photos.")


# -- the stamp goes into the event, not the file ------------------------------------------------


def test_the_photo_file_keeps_no_metadata_and_the_event_keeps_its_time_and_place(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    now = server.clock.now
    device = Device(tmp_path / "phone", server.url, _seattle(now), now)
    device.login("driver_a", "pw")
    device.engine.sync()
    photo = Stamper(FixedLocation(47.6112, -122.3311, 4.0, now), now)(_camera_jpeg())
    evidence = photo.evidence()
    event = device.capture.deliver(
        stop_ids[0], "Dana", evidence=[Evidence(png("strokes"), "signature", "image/png"), evidence]
    )

    with Image.open(io.BytesIO(evidence.data)) as kept:
        assert not kept.getexif()  # no maker, no camera GPS in the bytes that are sent
    [note] = event["payload"]["photos"]
    assert note["sha256"] == next(e["sha256"] for e in event["evidence"] if e["kind"] == "photo")
    assert note["taken_at"] == photo.taken_at.isoformat()
    assert note["geo"]["lat"] == 47.6112

    device.engine.sync()
    session.rollback()
    row = session.scalars(select(DoorEventRow).where(DoorEventRow.event_id == event["id"])).one()
    assert row.payload["photos"] == [note]
    device.close()


def _event(clock: SetClock, photos: Any, photo_sha: str = "a" * 64) -> dict[str, Any]:
    return {
        "id": "3f0c6f0e-8a4b-4a55-9d57-3b4f6c1f2a10",
        "stop_id": 1,
        "type": "delivered",
        "recorded_at": clock.now().isoformat(),
        "hlc": str(HLCTimestamp(int(clock.now().timestamp() * 1000), 0, "phone")),
        "base_version": 1,
        "payload": {"recipient_name": "Dana", "geo": None, "photos": photos},
        "evidence": [
            {"sha256": photo_sha, "kind": "photo", "content_type": "image/jpeg", "size": 10}
        ],
    }


def test_the_server_accepts_a_photo_stamp_that_names_a_photo_of_the_event(
    clock: SetClock,
) -> None:
    stamp = {"sha256": "a" * 64, "taken_at": clock.now().isoformat(), "geo": None}
    event = parse_event(_event(clock, [stamp]), "phone", clock.now())
    assert event.payload["photos"] == [stamp]


@pytest.mark.parametrize(
    ("photos", "field"),
    [
        ([{"sha256": "b" * 64, "taken_at": "2026-11-24T17:00:00+00:00", "geo": None}], "sha256"),
        ([{"sha256": "a" * 64, "taken_at": "yesterday", "geo": None}], "taken_at"),
        ([{"sha256": "a" * 64, "taken_at": "2026-11-24T17:00:00+00:00"}], "photos[0]"),
        ([{"sha256": "a" * 64, "taken_at": "2026-11-24T17:00:00+00:00", "geo": {"lat": 1}}], "geo"),
        ("not a list", "payload.photos"),
    ],
)
def test_a_malformed_photo_stamp_is_refused_with_its_field(
    clock: SetClock, photos: Any, field: str
) -> None:
    with pytest.raises(EventRejected) as refused:
        parse_event(_event(clock, photos), "phone", clock.now())
    assert field in str(refused.value.field)


def test_a_delivery_without_photo_stamps_keeps_its_payload_as_before(clock: SetClock) -> None:
    raw = _event(clock, [])
    del raw["payload"]["photos"]
    assert "photos" not in parse_event(raw, "phone", clock.now()).payload
    assert json.dumps(raw)  # plain JSON, as a device sends it
