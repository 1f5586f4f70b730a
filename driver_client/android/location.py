"""The phone's GPS, started only once the driver allowed it.

Starting plyer's GPS without the location permission raises in Java; asking takes a
dialog the driver answers later. So the device gets this provider at once, and it
reports honestly "no fix" until the permission arrives and a fix with it.
"""

from __future__ import annotations

from collections.abc import Callable

from driver_client.capture import Fix, LocationProvider, PlyerLocation


class LocationAfterPermission:
    def __init__(self, start_gps: Callable[[], LocationProvider] = PlyerLocation) -> None:
        self.start_gps = start_gps
        self.gps: LocationProvider | None = None

    def permission_granted(self) -> None:
        if self.gps is None:
            self.gps = self.start_gps()

    def current_fix(self) -> Fix | None:
        return self.gps.current_fix() if self.gps is not None else None
