"""Navigation and calls on a desktop: links handed to the real webbrowser module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from driver_client.handoff import DesktopHandoff, geo_uri, maps_link, tel_uri

OPEN_BOTH = """
from driver_client.handoff import DesktopHandoff
handoff = DesktopHandoff()
print(handoff.navigate(47.6097, -122.3331, "1 Pike St"), handoff.call("+1 (206) 555-0100"))
"""


def test_the_links_point_at_the_stop_and_the_recipients_number() -> None:
    assert (
        geo_uri(47.6097, -122.3331, "1 Pike St")
        == "geo:47.6097,-122.3331?q=47.6097,-122.3331(1%20Pike%20St)"
    )
    assert geo_uri(None, None, "1 Pike St") == "geo:0,0?q=1%20Pike%20St"
    assert (
        maps_link(47.6, -122.3, "x")
        == "https://www.openstreetmap.org/?mlat=47.6&mlon=-122.3#map=18/47.6/-122.3"
    )
    assert (
        maps_link(None, None, "1 Pike St") == "https://www.openstreetmap.org/search?query=1+Pike+St"
    )
    assert tel_uri("+1 (206) 555-0100") == "tel:+12065550100"
    assert tel_uri("ext. only") is None
    assert tel_uri("") is None


def test_the_desktop_opens_the_map_and_the_number_with_its_browser(tmp_path: Path) -> None:
    """The real webbrowser module, with BROWSER naming a recorder instead of a browser."""
    opened = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.sh"
    recorder.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {opened}\n')
    recorder.chmod(0o755)
    env = {
        **os.environ,
        "BROWSER": f"{recorder} %s",
        "DISPLAY": "",
        "WAYLAND_DISPLAY": "",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", OPEN_BOTH],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["True", "True"]
    assert opened.read_text().splitlines() == [
        "https://www.openstreetmap.org/?mlat=47.6097&mlon=-122.3331#map=18/47.6097/-122.3331",
        "tel:+12065550100",
    ]


def test_nothing_is_opened_for_a_stop_without_a_number() -> None:
    opened: list[str] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        return True

    handoff = DesktopHandoff(open_url=open_url)
    assert handoff.call("") is False
    assert opened == []
