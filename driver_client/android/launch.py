"""The APK's start (``main.py`` at the repository root calls ``main``).

Where the phone keeps its data, which server it talks to, and the app itself with
the phone's GPS; when the app goes to the background with captures still waiting, it
hands the sync to the foreground service (driver_client/android/service.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# `make apk SERVER=https://...` writes the server's address here before building.
SERVER_FILE = Path(__file__).with_name("server.txt")
# Without it, the Android emulator's name for the building machine's loopback: the
# server from `make run` on the developer's own machine.
EMULATOR_HOST_SERVER = "http://10.0.2.2:8000"


def data_dir() -> Path:
    """The app's private storage: kept across updates, removed with the app."""
    from android.storage import app_storage_path

    return Path(app_storage_path()) / "doorstep"


def server_address(build_file: Path = SERVER_FILE) -> str:
    if build_file.exists() and build_file.read_text().strip():
        return build_file.read_text().strip()
    return EMULATOR_HOST_SERVER


def main() -> None:
    from driver_client.android import service
    from driver_client.capture import PlyerLocation
    from driver_client.device import Device
    from driver_client.ui.app import DriverApp

    class PhoneApp(DriverApp):
        def on_pause(self) -> bool:
            if self.device.store.pending_count() > 0:
                service.start_sync_service()
            return True  # stay paused, not stopped: the driver comes back to this screen

        def on_resume(self) -> None:
            service.stop_sync_service()
            self.sync_now()

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    device = Device(folder, server_address(), PlyerLocation())
    app: Any = PhoneApp(device, lambda: None, sync_interval_s=30)
    app.run()
    device.close()
