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

# Where `make run` serves, for a device that never logged in and was named no server.
DEFAULT_SERVER = "http://127.0.0.1:8000"


class Device:
    def __init__(
        self,
        data_dir: Path,
        server: str | None,
        location: LocationProvider | None = None,
        now: Callable[[], datetime] = system_now,
    ) -> None:
        """``now`` is the device's clock (the phone's own, which may be off); ``server``
        None means the one of the last login, else :data:`DEFAULT_SERVER`."""
        self.data_dir = data_dir
        self.store = Store(data_dir / "device.db")
        if server is None:
            server = str(self.store.get("server") or DEFAULT_SERVER)
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
        """Log in; the server that answered is remembered for the next start."""
        self.transport.login(username, password, self.device_id)
        self.store.put("username", username)
        self.store.put("server", self.transport.base_url)

    def close(self) -> None:
        self.store.close()
