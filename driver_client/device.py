"""One device: its store, capture, transport and sync engine, wired together."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from backend.domain.clock import system_now
from driver_client.capture import Capture, LocationProvider, NoLocation, recover_orphans
from driver_client.store import Store
from driver_client.sync import SyncEngine
from driver_client.transport import Transport


class Device:
    def __init__(
        self,
        data_dir: Path,
        server: str,
        location: LocationProvider | None = None,
        now: Callable[[], datetime] = system_now,
    ) -> None:
        """``now`` is the device's clock (the phone's own, which may be off)."""
        self.data_dir = data_dir
        self.store = Store(data_dir / "device.db")
        device_id = self.store.get("device_id")
        if device_id is None:
            device_id = f"device-{uuid.uuid4().hex[:12]}"
            self.store.put("device_id", device_id)
        self.device_id: str = device_id
        self.files_dir = data_dir / "evidence"
        # After any crash: files written for a capture that never committed are found
        # and kept before anything else runs.
        self.orphans = recover_orphans(self.store, self.files_dir)
        self.transport = Transport(server, self.store)
        self.capture = Capture(
            self.store, self.files_dir, self.device_id, location or NoLocation(), now=now
        )
        self.engine = SyncEngine(
            self.store, self.transport, self.device_id, now=now, location=location
        )

    def login(self, username: str, password: str) -> None:
        self.transport.login(username, password, self.device_id)
        self.store.put("username", username)

    def close(self) -> None:
        self.store.close()
