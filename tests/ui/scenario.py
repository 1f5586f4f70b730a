"""Drives the real Kivy app with touch events; run by test_driver_app.py under Xvfb.

A script of steps, each followed by a condition to wait for. It asks the test (its
parent process) to stop and start the server by printing ``REQUEST server_down`` /
``REQUEST server_up`` and waiting for a line on stdin; it prints ``RESULT {json}`` at
the end, or ``FAILED <reason>``.
"""

from __future__ import annotations

import gettext
import io
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

import barcode
from barcode.writer import ImageWriter
from kivy.config import Config
from PIL import Image

Config.set("graphics", "width", "480")
Config.set("graphics", "height", "800")

from kivy.clock import Clock  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

from backend.domain.clock import SetClock  # noqa: E402
from driver_client import i18n  # noqa: E402
from driver_client.capture import FixedLocation  # noqa: E402
from driver_client.device import Device  # noqa: E402
from driver_client.handoff import DesktopHandoff  # noqa: E402
from driver_client.photos import FileSource, Stamper  # noqa: E402
from driver_client.ui.app import DriverApp  # noqa: E402

Step = Iterator[Callable[[], bool] | float]


def tap(widget: Any) -> None:
    x, y = widget.to_window(*widget.center)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()


def draw(widget: Any, points: list[tuple[float, float]]) -> None:
    """A finger stroke across ``widget``; points are fractions of its size."""

    def at(fx: float, fy: float) -> tuple[float, float]:
        x, y = widget.x + fx * widget.width, widget.y + fy * widget.height
        return widget.to_window(x, y)

    touch = UnitTestTouch(*at(*points[0]))
    touch.touch_down()
    for point in points[1:]:
        touch.touch_move(*at(*point))
    touch.touch_up()


def type_into(text_input: Any, text: str) -> None:
    tap(text_input)
    text_input.insert_text(text)


def ask_parent(request: str) -> str:
    """What the test answers after its ``ok`` (a one-time password, say)."""
    print(f"REQUEST {request}", flush=True)
    reply = sys.stdin.readline().strip()
    if reply != "ok" and not reply.startswith("ok "):
        raise RuntimeError(f"the test did not acknowledge {request}")
    return reply.removeprefix("ok").strip()


def label_jpeg(text: str) -> bytes:
    """A parcel label (Code 128) as a phone camera would see it."""
    out = io.BytesIO()
    barcode.get("code128", text, writer=ImageWriter()).write(out)
    picture = io.BytesIO()
    Image.open(out).convert("RGB").save(picture, format="JPEG", quality=85)
    return picture.getvalue()


def use_catalogue(mo: Path) -> None:
    """Read the app's words from the compiled catalogue ``mo``, English behind it: the
    words it translates show translated only if they go through the catalogue."""
    with mo.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    catalogue.add_fallback(i18n.load(["en"]))
    i18n._catalogue = lambda: catalogue  # type: ignore[assignment]


class Scenario:
    def __init__(self, app: DriverApp, shots: Path, mode: str) -> None:
        self.app = app
        self.photos: FileSource = app.photo_source
        self.shots = shots
        self.result: dict[str, Any] = {}
        self.steps = {
            "full": self.script,
            "kill": self.deliver_three_then_die,
            "resume": self.resume_after_kill,
            "first_day": self.first_day,
            "login_ended": self.login_ends_mid_shift,
        }[mode]()
        self.waiting: Callable[[], bool] | None = None
        self.deadline = 0.0

    def shot(self, name: str) -> None:
        self.app.root.export_to_png(str(self.shots / f"{name}.png"))

    def screen(self, name: str) -> Any:
        return self.app.root.get_screen(name)

    def script(self) -> Step:
        login = self.screen("login")
        type_into(login.ids.username, "driver_a")
        type_into(login.ids.password, "pw")
        self.shot("01-login")
        tap(login.ids.login)
        manifest = self.screen("manifest")
        yield lambda: self.app.root.current == "manifest" and len(manifest.stops) == 3
        yield 0.3
        self.shot("02-manifest")
        ask_parent("server_down")

        stop_id = manifest.stops[0]["stop_id"]
        self.result["stop_id"] = stop_id
        rows = [w for w in manifest.ids.list.children[0].children if w.stop_id == stop_id]
        tap(rows[0])
        yield lambda: self.app.root.current == "stop"
        yield 0.3
        self.shot("03-stop")
        tap(self.screen("stop").ids.deliver)
        capture = self.screen("capture")
        yield lambda: self.app.root.current == "capture"
        yield 0.3  # let the screen lay out before touching it
        tap(capture.ids.save)  # nothing captured yet: the policy must refuse
        yield 0.2
        self.result["refusal"] = capture.message
        self.result["fix"] = capture.fix_text
        type_into(capture.ids.recipient, "Dana Whitfield")
        draw(capture.ids.pad, [(0.1, 0.3), (0.25, 0.7), (0.4, 0.35), (0.6, 0.75), (0.85, 0.4)])
        draw(capture.ids.pad, [(0.2, 0.2), (0.8, 0.22)])
        tap(capture.ids.photo)
        yield lambda: capture.photo_count == 1
        # "Scan" with the camera pointed at the parcel's label: its barcode is read.
        [parcel] = [p["barcode"] for p in (self.app.device.store.stop(stop_id) or {})["parcels"]]
        self.photos.path = self.app.device.data_dir / "label.jpg"
        self.photos.path.write_bytes(label_jpeg(parcel))
        tap(capture.ids.scan)
        yield lambda: parcel in capture.ids.barcodes.text
        self.result["scanned"] = capture.ids.barcodes.text
        self.result["scan_status"] = capture.scan_status
        yield 0.2
        self.shot("04-capture")
        self.result["capture_heading"] = [
            self.app.stop_heading,
            self.app.stop_address,
            self.app.stop_recipient,
        ]
        tap(capture.ids.save)
        # Saved: the app offers the next stop rather than the list.
        yield lambda: self.app.root.current == "stop" and self.app.current_stop_id != stop_id
        yield 0.3
        stop = self.screen("stop")
        self.result["offered"] = [self.app.current_stop_id, stop.message]
        # Arrived there: the driver stays on that stop, told it is saved.
        tap(stop.ids.arrived)
        yield 0.3
        self.result["after_arrived"] = [self.app.root.current, stop.message]
        type_into(stop.ids.note, "Dog in the yard")
        tap(stop.ids.save_note)
        yield lambda: self.app.pending_count == 3
        self.result["after_note"] = stop.message
        self.shot("05-next-stop")
        tap(stop.ids.back)
        yield lambda: self.app.root.current == "manifest"
        yield 0.3
        self.result["badge_offline"] = manifest.ids.badge.text
        self.shot("06-saved-offline")

        tap(manifest.ids.badge)
        yield lambda: self.app.root.current == "sync"
        yield 0.3
        tap(self.screen("sync").ids.sync_now)
        yield lambda: "No connection" in self.app.sync_error
        self.screen("sync").refresh()
        yield 0.3
        self.shot("07-sync-offline")

        ask_parent("server_up")
        tap(self.screen("sync").ids.sync_now)
        yield lambda: self.app.pending_count == 0 and not self.app.sync_error
        self.screen("sync").refresh()
        self.app.show("manifest")
        yield 0.5
        self.result["badge_online"] = manifest.ids.badge.text
        self.shot("08-synced")
        # The delivered stop shows the receipt the server signed, for a dispute.
        self.app.open_stop(stop_id)
        yield lambda: self.app.root.current == "stop"
        yield 0.3
        self.result["sealed"] = self.screen("stop").details.splitlines()[-1]
        self.shot("14-proof-sealed")

    def first_day(self) -> Step:
        """A driver with a one-time password chooses their own, then fails a stop with a
        photo of why, and reads the day."""
        login = self.screen("login")
        type_into(login.ids.username, "driver_a")
        type_into(login.ids.password, "pw")
        tap(login.ids.login)
        password = self.screen("password")
        yield lambda: self.app.root.current == "password"
        yield 0.3
        type_into(password.ids.new, "a long one of my own")
        type_into(password.ids.again, "a long one of my own!")
        tap(password.ids.change)
        yield 0.2
        self.result["mismatch"] = password.message
        password.ids.again.text = ""
        type_into(password.ids.again, "a long one of my own")
        self.shot("10-password")
        tap(password.ids.change)
        manifest = self.screen("manifest")
        yield lambda: self.app.root.current == "manifest" and len(manifest.stops) == 3
        yield 0.3
        ask_parent("server_down")  # so the day shows what waits
        stop_id = manifest.stops[0]["stop_id"]
        self.result["stop_id"] = stop_id
        tap(next(w for w in manifest.ids.list.children[0].children if w.stop_id == stop_id))
        yield lambda: self.app.root.current == "stop"
        yield 0.3
        tap(self.screen("stop").ids.failed)
        failure = self.screen("failure")
        yield lambda: self.app.root.current == "failure"
        yield 0.3
        failure.ids.reason.text = "Could not get in"  # chosen from the menu, as it reads
        type_into(failure.ids.note, "Gate locked")
        tap(failure.ids.photo)
        yield lambda: len(failure.photos) == 1
        self.result["photo_button"] = failure.ids.photo.text
        yield 0.2
        self.shot("11-failure")
        tap(failure.ids.save)
        yield lambda: self.app.root.current == "stop" and self.app.current_stop_id != stop_id
        yield 0.3
        tap(self.screen("stop").ids.day)
        day = self.screen("day")
        yield lambda: self.app.root.current == "day"
        yield 0.3
        self.result["day_offline"] = day.summary
        self.shot("12-day")
        ask_parent("server_up")
        self.app.sync_now()
        yield lambda: self.app.pending_count == 0 and not self.app.sync_error
        day.refresh()
        self.result["day_synced"] = day.summary

    def login_ends_mid_shift(self) -> Step:
        """Offline, the driver saves an arrival; meanwhile the office resets their
        password. The next sync sends them to the login screen with the arrival still
        waiting, and after logging in (and choosing a password) the same phone syncs it."""
        login = self.screen("login")
        type_into(login.ids.username, "driver_a")
        type_into(login.ids.password, "pw")
        tap(login.ids.login)
        manifest = self.screen("manifest")
        yield lambda: self.app.root.current == "manifest" and len(manifest.stops) == 3
        yield 0.3
        ask_parent("server_down")
        self.app.sync_now()
        yield lambda: bool(self.app.sync_error)
        self.result["offline"] = self.app.sync_error
        stop_id = manifest.stops[0]["stop_id"]
        self.result["stop_id"] = stop_id
        tap(next(w for w in manifest.ids.list.children[0].children if w.stop_id == stop_id))
        yield lambda: self.app.root.current == "stop"
        yield 0.3
        tap(self.screen("stop").ids.arrived)
        yield lambda: self.app.pending_count == 1
        one_time = ask_parent("reset_password")  # the server is up again
        self.app.sync_now()
        yield lambda: self.app.root.current == "login"
        yield 0.3
        self.shot("13-login-ended")
        self.result["login_message"] = login.message
        self.result["username"] = login.ids.username.text
        self.result["waiting_at_login"] = self.app.device.store.pending_count()
        self.result["device_id"] = self.app.device.device_id
        type_into(login.ids.password, one_time)
        tap(login.ids.login)
        password = self.screen("password")
        yield lambda: self.app.root.current == "password"
        yield 0.3
        type_into(password.ids.new, "a long one of my own")
        type_into(password.ids.again, "a long one of my own")
        tap(password.ids.change)
        yield lambda: self.app.root.current == "manifest"
        yield lambda: self.app.pending_count == 0 and not self.app.sync_error

    def deliver_three_then_die(self) -> Step:
        """Log in, go offline, deliver three stops with signature and photo, get killed."""
        login = self.screen("login")
        type_into(login.ids.username, "driver_a")
        type_into(login.ids.password, "pw")
        tap(login.ids.login)
        manifest = self.screen("manifest")
        yield lambda: self.app.root.current == "manifest" and len(manifest.stops) == 3
        ask_parent("server_down")
        yield 0.3
        first = manifest.stops[0]["stop_id"]
        tap(next(w for w in manifest.ids.list.children[0].children if w.stop_id == first))
        for index in range(3):
            # Each saved delivery offers the next stop: the driver follows the offer.
            stop_id = manifest.stops[index]["stop_id"]
            yield (
                lambda stop_id=stop_id: (
                    self.app.root.current == "stop" and self.app.current_stop_id == stop_id
                )
            )
            yield 0.3
            tap(self.screen("stop").ids.deliver)
            capture = self.screen("capture")
            yield lambda: self.app.root.current == "capture"
            yield 0.3
            type_into(capture.ids.recipient, f"Recipient {index}")
            draw(capture.ids.pad, [(0.1, 0.3), (0.3, 0.7), (0.5, 0.3 + index / 10), (0.9, 0.6)])
            tap(capture.ids.photo)
            yield lambda capture=capture: capture.photo_count == 1
            tap(capture.ids.save)
        # Nothing left to do: the day's summary.
        yield lambda: self.app.root.current == "day"
        yield lambda: self.app.pending_count == 3
        print("KILLING", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    def resume_after_kill(self) -> Step:
        """The restarted app opens on the list with 3 waiting, and syncs when online."""
        manifest = self.screen("manifest")
        yield lambda: self.app.root.current == "manifest"
        yield 0.3
        self.result["badge_after_restart"] = manifest.ids.badge.text
        self.shot("09-after-restart")
        ask_parent("server_up")
        self.app.sync_now()
        yield lambda: self.app.pending_count == 0 and not self.app.sync_error
        yield 0.5
        self.result["badge_online"] = manifest.ids.badge.text
        self.result["stop_ids"] = [s["stop_id"] for s in manifest.stops]

    def tick(self, _dt: float) -> None:
        try:
            if self.waiting is not None:
                if not self.waiting():
                    if time.monotonic() > self.deadline:
                        raise TimeoutError(
                            f"a step did not complete in time, on the {self.app.root.current}"
                            f" screen, waiting at line {self.waiting.__code__.co_firstlineno}"
                        )
                    return
                self.waiting = None
            while True:
                item = next(self.steps)
                if isinstance(item, float):
                    until = time.monotonic() + item
                    self.waiting = lambda until=until: time.monotonic() >= until
                    self.deadline = until + 30
                    return
                self.waiting = item
                self.deadline = time.monotonic() + 30
                return
        except StopIteration:
            print("RESULT " + json.dumps(self.result), flush=True)
            self.app.stop()
        except Exception:
            print("FAILED " + traceback.format_exc().replace("\n", " | "), flush=True)
            self.app.stop()


def main() -> None:
    server, data, shots, photo = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    mode = sys.argv[5]
    now = SetClock(datetime.fromisoformat(sys.argv[6])).now
    if len(sys.argv) > 7:
        use_catalogue(Path(sys.argv[7]))
    shots.mkdir(parents=True, exist_ok=True)
    device = Device(data, server, FixedLocation(47.611, -122.331, 6, now), now)
    photos = FileSource(Path(photo), Stamper(device.capture.location, device.capture.now))
    app = DriverApp(device, photos, sync_interval_s=3600)
    # A short timer so the restarted app syncs (and probes) promptly in the test.
    app.sync_interval_s = 3600 if mode != "resume" else 1
    app.handoff = DesktopHandoff(open_url=lambda _url: True)  # never a real browser here
    scenario = Scenario(app, shots, mode)
    Clock.schedule_once(lambda _dt: Clock.schedule_interval(scenario.tick, 0.05), 0.5)
    app.run()
    device.close()


if __name__ == "__main__":
    main()
