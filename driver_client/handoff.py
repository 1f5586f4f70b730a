"""Handing the driver to another app: the map to the door, the phone to the recipient.

``Handoff`` is what the screens call; each platform gives its own (the phone's is
``driver_client.android.handoff``). Both answer whether something was opened, so the
screen can say so when nothing could be.
"""

from __future__ import annotations

import re
import webbrowser
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, urlencode


class Handoff(Protocol):
    def navigate(self, lat: float | None, lon: float | None, address: str) -> bool: ...

    def call(self, phone: str) -> bool: ...


def geo_uri(lat: float | None, lon: float | None, address: str) -> str:
    """Android's ``geo:`` URI: a pin at the stop, labelled with its address; by address
    alone when the stop has no position."""
    if lat is None or lon is None:
        return f"geo:0,0?q={quote(address)}"
    return f"geo:{lat},{lon}?q={lat},{lon}({quote(address)})"


def maps_link(lat: float | None, lon: float | None, address: str) -> str:
    """A web map at the stop (OpenStreetMap), for a machine without a geo: handler."""
    if lat is None or lon is None:
        return "https://www.openstreetmap.org/search?" + urlencode({"query": address})
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def tel_uri(phone: str) -> str | None:
    """``tel:`` with the digits and a leading +; None when there is no number to call."""
    digits = re.sub(r"[^\d+]", "", phone)
    if not re.search(r"\d", digits):
        return None
    return "tel:" + digits[0] + digits[1:].replace("+", "")


class DesktopHandoff:
    """The desktop's browser (or whatever handles ``tel:`` there) opens the links."""

    def __init__(self, open_url: Callable[[str], bool] = webbrowser.open) -> None:
        self.open_url = open_url

    def navigate(self, lat: float | None, lon: float | None, address: str) -> bool:
        return bool(self.open_url(maps_link(lat, lon, address)))

    def call(self, phone: str) -> bool:
        uri = tel_uri(phone)
        return uri is not None and bool(self.open_url(uri))
