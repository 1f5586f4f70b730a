"""The driver app as the phone runs it: the desktop's app plus Android's lifecycle.

On start it asks for the runtime permissions (and starts the GPS once allowed); when
it goes to the background with captures waiting it starts the foreground sync
service, and stops it when the driver is back. Android's APIs come in as arguments,
so tests drive every path with fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.clock import mainthread

from driver_client.android import permissions
from driver_client.android.launch import apply_answer
from driver_client.android.location import LocationAfterPermission
from driver_client.device import Device
from driver_client.photos import PhotoSource
from driver_client.ui.app import DriverApp


class PhoneApp(DriverApp):
    def __init__(
        self,
        device: Device,
        photo_source: PhotoSource,
        location: LocationAfterPermission,
        permission_api: Callable[[], permissions.PermissionApi],
        sdk: Callable[[], int],
        start_service: Callable[[], None],
        stop_service: Callable[[], None],
        tell: Callable[[str, str], object],
        **kwargs: Any,
    ) -> None:
        super().__init__(device, photo_source, **kwargs)
        self.location = location
        self.permission_api = permission_api
        self.sdk = sdk
        self.start_service = start_service
        self.stop_service = stop_service
        self.tell = tell

    def on_start(self) -> None:
        permissions.request(self.permission_api(), self.sdk(), self._answered)

    @mainthread  # Android calls back on its own thread; widgets belong to Kivy's
    def _answered(self, answer: permissions.Answer) -> None:
        apply_answer(answer, self.location, self.tell)

    def on_pause(self) -> bool:
        if self.device.store.pending_count() > 0:
            self.start_service()
        return True  # stay paused, not stopped: the driver comes back to the same screen

    def on_resume(self) -> None:
        self.stop_service()
        self.sync_now()
