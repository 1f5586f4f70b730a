"""The APK's start (``main.py`` at the repository root calls ``main``).

Where the phone keeps its data, which server it talks to, and the app itself with
the phone's GPS; when the app goes to the background with captures still waiting, it
hands the sync to the foreground service (driver_client/android/service.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from driver_client.android.location import LocationAfterPermission
from driver_client.android.permissions import Answer, Need

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


def apply_answer(
    answer: Answer, location: LocationAfterPermission, tell: Callable[[str, str], object]
) -> None:
    """Start what the driver allowed; tell them what the refusals cost."""
    if Need.LOCATION in answer.granted:
        location.permission_granted()
    if answer.refused:
        tell("Some things will not work", answer.explanation())


def main() -> None:
    from android import activity as activity_events
    from kivy.clock import mainthread

    from driver_client.android import permissions, service
    from driver_client.android.camera import CameraIntentSource
    from driver_client.android.handoff import AndroidHandoff
    from driver_client.android.phone_app import PhoneApp
    from driver_client.device import Device
    from driver_client.photos import Stamper
    from driver_client.ui.notice import show_notice

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    location = LocationAfterPermission()
    device = Device(folder, server_address(), location)
    camera = CameraIntentSource(
        Stamper(location),
        activity_events,
        camera_allowed=lambda: permissions.android_permissions().check_permission(
            "android.permission.CAMERA"
        ),
        to_ui=mainthread,
    )
    PhoneApp(
        device,
        camera,
        location,
        permission_api=permissions.android_permissions,
        sdk=permissions.sdk_int,
        start_service=service.start_sync_service,
        stop_service=service.stop_sync_service,
        tell=show_notice,
        sync_interval_s=30,
        handoff=AndroidHandoff(),
    ).run()
    device.close()
