"""Navigation and calls on the phone, through Android intents.

``geo:`` opens whichever map app the driver uses (Google Maps, OsmAnd, Waze...);
without one, the web map opens in the browser. A call opens the dialler with the
number filled in (``ACTION_DIAL``: the driver presses call, and the app needs no
CALL_PHONE permission).
"""

from __future__ import annotations

from typing import Any

from driver_client.android.jni import AutoClass, activity, autoclass
from driver_client.handoff import geo_uri, maps_link, tel_uri


class AndroidHandoff:
    def __init__(self, load: AutoClass = autoclass) -> None:
        self.load = load

    def navigate(self, lat: float | None, lon: float | None, address: str) -> bool:
        for uri in (geo_uri(lat, lon, address), maps_link(lat, lon, address)):
            if self._start("android.intent.action.VIEW", uri):
                return True
        return False

    def call(self, phone: str) -> bool:
        uri = tel_uri(phone)
        return uri is not None and self._start("android.intent.action.DIAL", uri)

    def _start(self, action: str, uri: str) -> bool:
        app: Any = activity(self.load)
        intent = self.load("android.content.Intent")(
            action, self.load("android.net.Uri").parse(uri)
        )
        # No app for it (no map app, a tablet without a dialler): say so, do not crash.
        if intent.resolveActivity(app.getPackageManager()) is None:
            return False
        app.startActivity(intent)
        return True
