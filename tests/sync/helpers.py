"""Building door events and evidence the way a device would."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from backend.domain.hlc import HybridLogicalClock

T0 = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def png(label: str) -> bytes:
    """A distinct small real PNG per label: the server decodes every image it receives."""
    shade = hashlib.sha256(label.encode()).digest()[:3]
    info = PngInfo()
    info.add_text("label", label)
    out = io.BytesIO()
    Image.new("RGB", (16, 8), tuple(shade)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg(label: str) -> bytes:
    """A distinct small real JPEG per label."""
    shade = hashlib.sha256(label.encode()).digest()[:3]
    out = io.BytesIO()
    Image.new("RGB", (32, 24), tuple(shade)).save(out, format="JPEG", comment=label.encode())
    return out.getvalue()


def noise_jpeg(width: int, height: int, seed: str = "noise") -> bytes:
    """A real JPEG of random pixels, which barely compress: about 1.2 bytes a pixel at
    quality 95, so a big upload is easy to make (1600 x 1100 is about 2 MB)."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="JPEG", quality=95)
    return out.getvalue()


def ref(data: bytes, kind: str = "signature", content_type: str = "image/png") -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "kind": kind,
        "content_type": content_type,
        "size": len(data),
    }


@dataclass
class Device:
    """A fake handheld: its own id, clock and token."""

    client: FlaskClient
    device_id: str
    headers: dict[str, str]
    clock_ms: int = int(T0.timestamp() * 1000)
    cursor: str | None = None
    hlc: HybridLogicalClock = field(init=False)

    def __post_init__(self) -> None:
        self.hlc = HybridLogicalClock(self.device_id, lambda: self.clock_ms)

    def event(
        self,
        stop_id: int,
        type_: str = "delivered",
        base_version: int = 1,
        payload: dict[str, Any] | None = None,
        evidence: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        self.clock_ms += 60_000
        if payload is None:
            payload = default_payload(type_)
        return {
            "id": event_id or str(uuid.uuid4()),
            "stop_id": stop_id,
            "type": type_,
            "recorded_at": datetime.fromtimestamp(self.clock_ms / 1000, UTC).isoformat(),
            "hlc": str(self.hlc.tick()),
            "base_version": base_version,
            "payload": payload,
            "evidence": evidence or [],
        }

    def sync(
        self, events: list[dict[str, Any]] | None = None, cursor: str | None = "keep", **extra: Any
    ) -> Any:
        body = {
            "device_id": self.device_id,
            "cursor": self.cursor if cursor == "keep" else cursor,
            "events": events or [],
            **extra,
        }
        response = self.client.post("/api/v1/sync", json=body, headers=self.headers)
        if response.status_code == 200:
            self.cursor = response.get_json()["cursor"]
        return response

    def upload_owed(self, body: dict[str, Any], files: dict[str, bytes], status: int = 200) -> None:
        """PUT every file a sync response says the server still needs; each answers
        ``status`` (422 for bytes that are not the image they claim to be)."""
        for upload in body["uploads"]:
            response = self.client.put(
                upload["url"].removeprefix("http://localhost"),
                data=files[upload["sha256"]],
                headers={**self.headers, "Content-Type": upload["content_type"]},
            )
            assert response.status_code == status, response.get_json()


def files_by_hash(*blobs: bytes) -> dict[str, bytes]:
    return {hashlib.sha256(blob).hexdigest(): blob for blob in blobs}


def default_payload(type_: str) -> dict[str, Any]:
    if type_ == "delivered":
        return {
            "recipient_name": "Dana Whitfield",
            "geo": {"lat": 47.611, "lon": -122.331, "accuracy_m": 8.0, "fixed_at": None},
            "scanned_barcodes": [],
            "where_left": "handed_to_recipient",
        }
    if type_ == "failed":
        return {"reason": "recipient_absent"}
    if type_ == "note":
        return {"text": "dog in the yard"}
    return {}


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()
