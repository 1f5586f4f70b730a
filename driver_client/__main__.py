"""The driver client from a terminal: log in, sync, list stops, record deliveries.

    python -m driver_client --data ~/.doorstep login driver1 --password demo
    python -m driver_client password --current <one-time> --new <your own>
    python -m driver_client sync
    python -m driver_client stops
    python -m driver_client deliver 812 --recipient "Dana" --signature sig.png --photo door.jpg
    python -m driver_client fail 813 --reason recipient_absent
    python -m driver_client status

Useful for support staff reproducing a driver's day, and for the demo.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from backend.domain.events import EvidenceKind, FailureReason, WhereLeft
from driver_client.capture import CaptureRefused, Evidence, FixedLocation, LocationProvider
from driver_client.device import Device
from driver_client.media import MediaRejected, prepare_photo
from driver_client.transport import Offline, ServerRefused

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def _evidence(paths: Sequence[str], kind: EvidenceKind) -> list[Evidence]:
    items = []
    for name in paths:
        path = Path(name)
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            raise SystemExit(f"{name}: use a .png, .jpg or .webp file")
        data = path.read_bytes()
        if kind == EvidenceKind.PHOTO:
            # Upright, downscaled, metadata stripped: what is hashed is what is sent.
            data, content_type = prepare_photo(data), "image/jpeg"
        items.append(Evidence(data, kind, content_type))
    return items


def _print_stops(device: Device) -> None:
    pending = device.store.stop_ids_waiting_to_sync()
    for stop in device.store.stops():
        window = stop["time_window"]
        start = (window["start"] or "")[11:16]
        end = (window["end"] or "")[11:16]
        flag = "  (waiting to sync)" if stop["id"] in pending else ""
        print(
            f"{stop['sequence'] or '-':>4}  #{stop['id']:<6} {stop['status']:<17} "
            f"{start}-{end}  {stop['address']}{flag}"
        )


def _status(device: Device) -> None:
    print(f"device:            {device.device_id}")
    print(f"logged in as:      {device.store.get('username', '(nobody)')}")
    print(f"last sync:         {device.store.get('last_sync', 'never')}")
    print(
        f"waiting to sync:   {device.store.pending_count()} event(s), "
        f"{len(device.store.pending_files())} file(s)"
    )
    for row in device.store.rejected_events():
        print(
            f"rejected:          event {row['event_id']} on stop {row['stop_id']}: "
            f"{row['result_code']}"
        )
    for row in device.store.conflicts():
        print(f"conflict:          stop {row['stop_id']}: {row['kind']} ({row['detail']})")
    if device.orphans:
        print(f"recovered files:   {len(device.orphans)} (kept in {device.files_dir})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m driver_client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        default=str(Path.home() / ".doorstep-driver"),
        help="the folder the device keeps its store, captures and settings in"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--server",
        help="the Doorstep server to log in to and sync with (default: the one of the last"
        " login in --data, else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--lat", type=float, help="a fixed position for captures, with --lon (else none)"
    )
    parser.add_argument(
        "--lon", type=float, help="a fixed position for captures, with --lat (else none)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    login = commands.add_parser("login", help="log in (the server is remembered)")
    login.add_argument("username", help="the driver's username")
    login.add_argument("--password", required=True, help="their password (or one-time one)")
    password = commands.add_parser("password", help="choose a new password")
    password.add_argument("--current", required=True, help="the password now (or one-time one)")
    password.add_argument("--new", required=True, help="the new password")
    commands.add_parser("sync", help="send what waits, fetch the plan, upload files")
    commands.add_parser("stops", help="list the day's stops")
    commands.add_parser("status", help="what waits to sync, and the server's answers")
    deliver = commands.add_parser("deliver", help="record a delivery")
    deliver.add_argument("stop_id", type=int, help="the stop's id (see stops)")
    deliver.add_argument("--recipient", required=True, help="who took the parcel")
    deliver.add_argument(
        "--signature", action="append", default=[], help="a signature image (repeatable)"
    )
    deliver.add_argument("--photo", action="append", default=[], help="a photo (repeatable)")
    deliver.add_argument(
        "--scan", action="append", default=[], help="a scanned parcel barcode (repeatable)"
    )
    deliver.add_argument(
        "--where",
        default=WhereLeft.HANDED_TO_RECIPIENT.value,
        choices=[where.value for where in WhereLeft],
        help="where the parcel was left (default: %(default)s)",
    )
    deliver.add_argument(
        "--age-verified", action="store_true", help="the recipient's age was checked"
    )
    fail = commands.add_parser("fail", help="record a failed attempt")
    fail.add_argument("stop_id", type=int, help="the stop's id (see stops)")
    fail.add_argument(
        "--reason",
        required=True,
        choices=[reason.value for reason in FailureReason],
        help="why it could not be delivered",
    )
    fail.add_argument("--note", default="", help="a note for the office")
    args = parser.parse_args(argv)

    location: LocationProvider | None = None
    if args.lat is not None and args.lon is not None:
        location = FixedLocation(args.lat, args.lon)
    device = Device(Path(args.data), args.server, location)
    try:
        if args.command == "login":
            device.login(args.username, args.password)
            print(f"logged in as {args.username} on {device.device_id}")
            if device.store.get("must_change_password", ""):
                print("choose your own password before anything else:")
                print("  python -m driver_client password --current ... --new ...")
        elif args.command == "password":
            device.transport.change_password(args.current, args.new)
            print("password changed")
        elif args.command == "sync":
            report = device.engine.sync()
            print(
                f"sent {report.sent}, acknowledged {report.acknowledged}, rejected "
                f"{report.rejected}, plan changes {report.changes}, files uploaded "
                f"{report.uploaded} ({report.requests} request(s))"
            )
        elif args.command == "stops":
            _print_stops(device)
        elif args.command == "status":
            _status(device)
        elif args.command == "deliver":
            evidence = _evidence(args.signature, EvidenceKind.SIGNATURE) + _evidence(
                args.photo, EvidenceKind.PHOTO
            )
            event = device.capture.deliver(
                args.stop_id,
                args.recipient,
                args.scan,
                args.where,
                evidence,
                True if args.age_verified else None,
            )
            print(f"saved delivery {event['id']} (waiting to sync)")
        elif args.command == "fail":
            event = device.capture.fail(args.stop_id, args.reason, args.note)
            print(f"saved failure {event['id']} (waiting to sync)")
    except CaptureRefused as exc:
        print("not saved: " + "; ".join(exc.reasons), file=sys.stderr)
        return 1
    except MediaRejected as exc:
        print(f"not saved: {exc}", file=sys.stderr)
        return 1
    except Offline:
        print("the server cannot be reached; everything captured is kept", file=sys.stderr)
        return 2
    except ServerRefused as exc:
        print(f"the server refused: {exc.code}: {exc.message}", file=sys.stderr)
        if exc.login_ended and args.command != "login":
            print(
                "log in again (login USERNAME); everything captured is kept and syncs "
                "from this device after the login",
                file=sys.stderr,
            )
        return 1
    finally:
        device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
