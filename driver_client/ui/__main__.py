"""`make driver`: the driver app against a Doorstep server (default: `make run`'s)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from driver_client.capture import FixedLocation, LocationProvider, PlyerLocation


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m driver_client.ui", description="The Doorstep driver app (Kivy)."
    )
    parser.add_argument(
        "--server",
        help="the Doorstep server to log in to and sync with (default: the one of the last"
        " login in --data, else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--data",
        default=str(Path.home() / ".doorstep-driver"),
        help="the folder the app keeps its store, captures and settings in; created if"
        " missing (default: %(default)s)",
    )
    parser.add_argument(
        "--photos",
        default=str(Path.home() / "Pictures"),
        help="the folder the photo picker opens in (a desktop has no camera)",
    )
    parser.add_argument(
        "--lat", type=float, help="a fixed position for every capture, with --lon (no GPS)"
    )
    parser.add_argument(
        "--lon", type=float, help="a fixed position for every capture, with --lat (no GPS)"
    )
    args = parser.parse_args()
    # Kivy makes its home folder on import, but not the folders above it: on the first
    # run the data folder must exist before Kivy is imported.
    kivy_home = Path(args.data) / "kivy"
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_HOME", str(kivy_home))

    from driver_client.device import Device
    from driver_client.photos import Stamper
    from driver_client.ui.app import DriverApp
    from driver_client.ui.file_picker import FilePickerSource

    location: LocationProvider = (
        FixedLocation(args.lat, args.lon)
        if args.lat is not None and args.lon is not None
        else PlyerLocation()  # the handheld GPS; "no fix" where there is none
    )
    device = Device(Path(args.data), args.server, location)
    photos = FilePickerSource(Path(args.photos), Stamper(location))
    DriverApp(device, photos, sync_interval_s=30).run()
    device.close()


if __name__ == "__main__":
    main()
