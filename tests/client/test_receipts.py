"""The server's signed receipt for a delivery is kept on the phone, to show at a dispute."""

from __future__ import annotations

import base64
from pathlib import Path

from flask.testing import FlaskClient

from backend.domain.digest import verify_receipt
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
from tests.client.conftest import LiveServer
from tests.sync.helpers import png

SIGNATURE = Evidence(png("strokes"), "signature", "image/png")


def _device(tmp_path: Path, server: LiveServer) -> Device:
    now = server.clock.now
    return Device(tmp_path / "phone", server.url, FixedLocation(47.611, -122.331, 8, now), now)


def test_the_signed_receipt_is_kept_on_the_phone_and_verifies(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], client: FlaskClient
) -> None:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.engine.sync()
    device.capture.deliver(stop_ids[0], "Dana", evidence=[SIGNATURE])
    assert device.store.receipt(stop_ids[0]) is None  # not sealed before it syncs
    device.engine.sync()
    receipt = device.store.receipt(stop_ids[0])
    assert receipt is not None
    keys = client.get("/api/v1/receipt-keys").get_json()["keys"]
    verify_receipt(receipt, {kid: base64.b64decode(key) for kid, key in keys.items()})
    assert receipt["stop_id"] == stop_ids[0]
    # A resend answered `duplicate` (no receipt) never drops the one kept.
    with device.store.transaction() as db:
        event_id = receipt["event_ids"][0]
        device.store.record_result(db, event_id, "duplicate")
    assert device.store.receipt(stop_ids[0]) == receipt
