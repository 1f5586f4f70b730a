"""`make driver`: the driver app against a Doorstep server (default: `make run`'s)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from driver_client.capture import FixedLocation, LocationProvider, PlyerLocation


def newest_image(folder: Path) -> bytes | None:
    """Desktop stand-in for the camera: the newest .jpg/.png in a folder."""
    images = [p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return max(images, key=lambda p: p.stat().st_mtime).read_bytes() if images else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m driver_client.ui")
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--data", default=str(Path.home() / ".doorstep-driver"))
    parser.add_argument("--photos", default=str(Path.home() / "Pictures"))
    parser.add_argument("--lat", type=float)
    parser.add_argument("--lon", type=float)
    args = parser.parse_args()
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_HOME", str(Path(args.data) / "kivy"))

    from driver_client.device import Device
    from driver_client.ui.app import DriverApp

    location: LocationProvider = (
        FixedLocation(args.lat, args.lon)
        if args.lat is not None and args.lon is not None
        else PlyerLocation()  # the handheld GPS; "no fix" where there is none
    )
    device = Device(Path(args.data), args.server, location)
    photos = Path(args.photos)
    DriverApp(device, lambda: newest_image(photos), sync_interval_s=30).run()
    device.close()


if __name__ == "__main__":
    main()
