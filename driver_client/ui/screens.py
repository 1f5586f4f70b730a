"""Screens: each one reads the store and calls capture or sync; layout lives in kv/."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.screenmanager import Screen

from backend.domain.events import EvidenceKind, FailureReason, WhereLeft
from backend.domain.stops import ProofPolicy
from driver_client.barcodes import ScannerMissing, check_scans, decode
from driver_client.capture import CaptureRefused, Evidence
from driver_client.fixes import describe_fix
from driver_client.media import MediaRejected
from driver_client.photos import Photo
from driver_client.transport import Offline, ServerRefused


def _app() -> Any:
    return App.get_running_app()


def _window(stop: dict[str, Any]) -> str:
    window = stop.get("time_window") or {}
    start, end = window.get("start"), window.get("end")
    if not start or not end:
        return "any time"
    return f"{start[11:16]}-{end[11:16]} UTC"


class LoginScreen(Screen):
    message = StringProperty("")

    def log_in(self, username: str, password: str) -> None:
        app = _app()
        try:
            app.device.login(username.strip(), password)
        except Offline:
            self.message = "No connection to the server. Try again when online."
            return
        except ServerRefused as exc:
            self.message = (
                "Wrong username or password."
                if exc.code == "invalid_credentials"
                else f"The server refused: {exc.message}"
            )
            return
        self.message = ""
        app.start_sync()
        app.sync_now()
        app.show("manifest")


class StopRow(Button):
    stop_id = NumericProperty(0)


class ManifestScreen(Screen):
    stops = ListProperty([])

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        waiting = app.device.store.stop_ids_waiting_to_sync()
        self.stops = [
            {
                "stop_id": stop["id"],
                "text": (
                    f"{stop['sequence'] or '-'}. {stop['address']}\n"
                    f"[size=14sp]{_window(stop)}   {stop['status'].replace('_', ' ')}"
                    f"{'   - waiting to sync' if stop['id'] in waiting else ''}[/size]"
                ),
            }
            for stop in app.device.store.stops()
        ]

    def open_stop(self, stop_id: int) -> None:
        _app().current_stop_id = stop_id
        _app().show("stop")


class StopScreen(Screen):
    title = StringProperty("")
    details = StringProperty("")
    policy_text = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        stop = _app().device.store.stop(_app().current_stop_id) or {}
        self.title = stop.get("address", "")
        parcels = ", ".join(p["barcode"] for p in stop.get("parcels", []))
        recipient = stop.get("recipient", {})
        self.details = (
            f"Order {stop.get('order_number', '')}   window {_window(stop)}\n"
            f"Recipient: {recipient.get('name', '')}  {recipient.get('phone', '')}\n"
            f"Parcels: {parcels}\n"
            f"Instructions: {stop.get('instructions') or 'none'}\n"
            f"Status: {stop.get('status', '')}"
        )
        policy = ProofPolicy.from_dict(stop.get("proof_policy"))
        needs = [
            label
            for label, on in (
                ("signature", policy.signature),
                (f"{policy.min_photos} photo(s)", policy.min_photos > 0),
                ("age check", policy.age_check),
                ("scan every parcel", policy.parcel_scan),
            )
            if on
        ]
        self.policy_text = "Proof needed: " + (", ".join(needs) or "none")

    def arrived(self) -> None:
        app = _app()
        app.device.capture.arrive(app.current_stop_id)
        app.after_capture()


class CaptureScreen(Screen):
    message = StringProperty("")
    photo_count = NumericProperty(0)
    scan_status = StringProperty("")
    fix_text = StringProperty("")
    where_choices = ListProperty([w.value for w in WhereLeft])

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.photos: list[Evidence] = []
        self.photo_count = 0
        self.ids.recipient.text = ""
        self.ids.barcodes.text = ""
        self.ids.pad.clear()
        self.ids.age.active = False
        self.show_fix()
        Clock.schedule_interval(self.show_fix, 1.0)

    def on_leave(self, *_args: Any) -> None:
        Clock.unschedule(self.show_fix)

    def show_fix(self, *_args: Any) -> None:
        capture = _app().device.capture
        self.fix_text = describe_fix(capture.location.current_fix(), capture.now())

    def add_photo(self) -> None:
        _app().photo_source.take(self.photo_taken)

    def photo_taken(self, photo: Photo | None, problem: str) -> None:
        if photo is None:
            self.message = problem or "No photo was taken."
            return
        try:
            self.photos.append(photo.evidence())
        except MediaRejected as exc:
            self.message = str(exc)
            return
        self.photo_count = len(self.photos)

    def scan_with_camera(self) -> None:
        _app().photo_source.take(self.scan_taken)

    def scan_taken(self, picture: Photo | None, problem: str) -> None:
        """Barcodes read from the picture join the typed ones; the picture is not kept."""
        if picture is None:
            self.message = problem or "No picture was taken."
            return
        try:
            codes = decode(picture.data)
        except ScannerMissing as exc:
            self.message = f"{exc}: type the barcodes instead."
            return
        if not codes:
            self.message = "No barcode found in the picture: try closer, or type it."
            return
        typed = self.ids.barcodes.text.replace(",", " ").split()
        self.ids.barcodes.text = " ".join(dict.fromkeys([*typed, *codes]))
        self.show_scans()

    def show_scans(self) -> None:
        store = _app().device.store
        stop = store.stop(_app().current_stop_id) or {}
        codes = self.ids.barcodes.text.replace(",", " ").split()
        self.scan_status = check_scans(codes, stop, store.stops()).summary()

    def save(self) -> None:
        app = _app()
        evidence = list(self.photos)
        if self.ids.pad.strokes:
            signature = Evidence(self.ids.pad.to_png(), EvidenceKind.SIGNATURE, "image/png")
            evidence.insert(0, signature)
        barcodes = [b for b in self.ids.barcodes.text.replace(",", " ").split() if b]
        try:
            app.device.capture.deliver(
                app.current_stop_id,
                self.ids.recipient.text.strip(),
                barcodes,
                self.ids.where.text,
                evidence,
                True if self.ids.age.active else None,
            )
        except CaptureRefused as exc:
            self.message = "Not saved: " + "; ".join(exc.reasons)
            return
        app.after_capture()


class FailureScreen(Screen):
    message = StringProperty("")
    reasons = ListProperty([r.value for r in FailureReason])

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.ids.note.text = ""

    def save(self, reason: str, note: str) -> None:
        app = _app()
        if reason not in self.reasons:
            self.message = "Choose a reason."
            return
        try:
            app.device.capture.fail(app.current_stop_id, reason, note.strip())
        except CaptureRefused as exc:
            self.message = "Not saved: " + "; ".join(exc.reasons)
            return
        except Exception as exc:  # the domain's validation, e.g. 'other' needs a note
            self.message = f"Not saved: {exc}"
            return
        app.after_capture()


class SyncStatusScreen(Screen):
    summary = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        store = app.device.store
        last = store.get("last_sync")
        lines = [
            f"Last sync: {last[11:19] + ' UTC' if last else 'never'}",
            f"Waiting to sync: {store.pending_count()} event(s), "
            f"{len(store.pending_files())} file(s)",
            f"Problem: {app.sync_error or 'none'}",
        ]
        for row in store.conflicts():
            lines.append(f"Conflict on stop {row['stop_id']}: {row['detail']}")
        for row in store.rejected_events():
            lines.append(f"Refused by the server: stop {row['stop_id']} ({row['result_code']})")
        if app.device.orphans:
            lines.append(f"Recovered files kept: {len(app.device.orphans)}")
        self.summary = "\n".join(lines)
