"""Screens: each one reads the store and calls capture or sync; layout lives in kv/.

Every word shown goes through ``driver_client.i18n``: sentences with ``_()``, the
protocol's codes (where left, failure reasons, statuses, conflicts) with ``label()``.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import DictProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.screenmanager import Screen

from backend.domain.events import EventRejected, EvidenceKind, FailureReason, WhereLeft
from backend.domain.stops import ProofPolicy, StopStatus
from driver_client.barcodes import ScannerMissing, check_scans, decode
from driver_client.capture import CaptureRefused, Evidence
from driver_client.fixes import describe_fix
from driver_client.handoff import tel_uri
from driver_client.i18n import CONFLICT_KIND, FAILURE_REASON, WHERE_LEFT, _, label, rejection
from driver_client.media import MediaRejected
from driver_client.photos import Photo
from driver_client.transport import Offline, ServerRefused
from driver_client.ui.display import local_time, status_text, stop_number, window_text

DONE = {StopStatus.DELIVERED.value, StopStatus.EVIDENCE_PENDING.value}
LEFT = {StopStatus.PENDING.value, StopStatus.ARRIVED.value}


def _app() -> Any:
    return App.get_running_app()


def _current_stop() -> dict[str, Any]:
    stop: dict[str, Any] = _app().device.store.stop(_app().current_stop_id) or {}
    return stop


class LoginScreen(Screen):
    message = StringProperty("")

    def log_in(self, username: str, password: str) -> None:
        app = _app()
        try:
            app.device.login(username.strip(), password)
        except Offline:
            self.message = _("No connection to the server. Try again when online.")
            return
        except ServerRefused as exc:
            self.message = (
                _("Wrong username or password.")
                if exc.code == "invalid_credentials"
                else _("The server refused: {reason}").format(reason=exc.message)
            )
            return
        self.message = ""
        if app.password_change_due():
            # The server opens nothing else until the driver has chosen their own.
            app.root.get_screen("password").ids.current.text = password
            app.show("password")
            return
        app.start_sync()
        app.sync_now()
        app.show("manifest")


class PasswordScreen(Screen):
    message = StringProperty("")

    def change(self, current: str, new: str, again: str) -> None:
        app = _app()
        if new != again:
            self.message = _("The two new passwords differ.")
            return
        try:
            app.device.transport.change_password(current, new)
        except Offline:
            self.message = _("No connection to the server. Try again when online.")
            return
        except ServerRefused as exc:
            self.message = _("Not changed: {reason}").format(reason=exc.message)
            return
        self.message = ""
        for field in ("current", "new", "again"):
            self.ids[field].text = ""
        app.start_sync()
        app.sync_now()
        app.show("manifest")


class StopRow(Button):
    stop_id = NumericProperty(0)


class ManifestScreen(Screen):
    stops = ListProperty([])
    summary = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        waiting = app.device.store.stop_ids_waiting_to_sync()
        tz = app.zone()
        stops = app.device.store.stops()
        self.stops = [
            {
                "stop_id": stop["id"],
                "text": (
                    f"{stop['sequence'] or '-'}. {stop['address']}\n"
                    f"[size=14sp]{window_text(stop, tz)}   {status_text(stop)}"
                    f"{'   ' + _('waiting to sync') if stop['id'] in waiting else ''}[/size]"
                ),
            }
            for stop in stops
        ]
        left = sum(1 for stop in stops if stop["status"] in LEFT)
        self.summary = _("{left} of {total} to do").format(left=left, total=len(stops))

    def open_stop(self, stop_id: int) -> None:
        _app().open_stop(stop_id)


def _sealed_lines(receipt: dict[str, Any] | None) -> list[str]:
    """The server's signed receipt for the delivery, to show at a dispute: its digest
    is what `doorstep verify` checks the proof against."""
    if not receipt:
        return []
    return [
        _("Proof sealed at {time}: receipt {kid}, digest {digest}").format(
            time=local_time(receipt.get("issued_at", ""), _app().zone()),
            kid=receipt.get("kid", ""),
            # In groups of 16, so the 64 hex digits wrap on a phone's width.
            digest=" ".join(textwrap.wrap(str(receipt.get("digest", "")), 16)),
        )
    ]


class StopScreen(Screen):
    details = StringProperty("")
    policy_text = StringProperty("")
    message = StringProperty("")
    can_call = NumericProperty(0)

    def on_pre_enter(self, *_args: Any) -> None:
        self.ids.note.text = ""
        self.refresh()

    def refresh(self) -> None:
        stop = _current_stop()
        parcels = ", ".join(p["barcode"] for p in stop.get("parcels", []))
        phone = (stop.get("recipient") or {}).get("phone") or ""
        self.can_call = 1 if tel_uri(phone) else 0
        self.details = "\n".join(
            [
                _("Status: {status}").format(status=status_text(stop)),
                _("Order {number}").format(number=stop.get("order_number", "")),
                _("Phone: {phone}").format(phone=phone or _("none")),
                _("Parcels: {parcels}").format(parcels=parcels or _("none")),
                _("Instructions: {text}").format(text=stop.get("instructions") or _("none")),
                *_sealed_lines(_app().device.store.receipt(int(stop.get("id", 0)))),
            ]
        )
        policy = ProofPolicy.from_dict(stop.get("proof_policy"))
        needs = [
            text
            for text, on in (
                (_("signature"), policy.signature),
                (_("{count} photo(s)").format(count=policy.min_photos), policy.min_photos > 0),
                (_("age check"), policy.age_check),
                (_("scan every parcel"), policy.parcel_scan),
            )
            if on
        ]
        self.policy_text = _("Proof needed: {needs}").format(needs=", ".join(needs) or _("none"))

    def arrived(self) -> None:
        """Saved, and the driver stays on the stop: the next thing is its outcome."""
        app = _app()
        try:
            event = app.device.capture.arrive(app.current_stop_id)
        except CaptureRefused as exc:
            self.message = _("Not saved: {reasons}").format(reasons="; ".join(exc.reasons))
            return
        self.message = _("Arrival saved at {time}.").format(
            time=local_time(event["recorded_at"], app.zone())
        )
        self.refresh()
        app.sync_now()

    def save_note(self, text: str) -> None:
        app = _app()
        if not text.strip():
            self.message = _("Write the note first.")
            return
        try:
            app.device.capture.note(app.current_stop_id, text)
        except CaptureRefused as exc:
            self.message = _("Not saved: {reasons}").format(reasons="; ".join(exc.reasons))
            return
        self.ids.note.text = ""
        self.message = _("Note saved.")
        app.sync_now()

    def navigate(self) -> None:
        stop = _current_stop()
        where = stop.get("location") or {}
        if not _app().handoff.navigate(where.get("lat"), where.get("lon"), stop.get("address", "")):
            self.message = _("No map app could be opened.")

    def call(self) -> None:
        phone = (_current_stop().get("recipient") or {}).get("phone") or ""
        if not _app().handoff.call(phone):
            self.message = _("The phone could not start the call.")


def _photo_count_text(count: int) -> str:
    return _("Add photo ({count})").format(count=count)


class PhotoTaking:
    """What the capture and failure screens share: photos stamped as they arrive."""

    message: str
    photos: list[Evidence]
    photo_button: str

    def add_photo(self) -> None:
        _app().photo_source.take(self.photo_taken)

    def photo_taken(self, photo: Photo | None, problem: str) -> None:
        if photo is None:
            self.message = problem or _("No photo was taken.")
            return
        try:
            self.photos.append(photo.evidence())
        except MediaRejected as exc:
            self.message = str(exc)
            return
        self.photo_button = _photo_count_text(len(self.photos))


class CaptureScreen(PhotoTaking, Screen):
    message = StringProperty("")
    photo_count = NumericProperty(0)
    photo_button = StringProperty("")
    scan_status = StringProperty("")
    fix_text = StringProperty("")
    where_labels = DictProperty({label(WHERE_LEFT, w.value): w.value for w in WhereLeft})
    where_choices = ListProperty([label(WHERE_LEFT, w.value) for w in WhereLeft])
    where_default = StringProperty(label(WHERE_LEFT, WhereLeft.HANDED_TO_RECIPIENT))

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.photos = []
        self.photo_button = _photo_count_text(0)
        self.ids.recipient.text = ""
        self.ids.barcodes.text = ""
        self.ids.where.text = self.where_default
        self.ids.pad.clear()
        self.ids.age.active = False
        self.show_scans()
        self.show_fix()
        Clock.schedule_interval(self.show_fix, 1.0)

    def on_leave(self, *_args: Any) -> None:
        Clock.unschedule(self.show_fix)

    def photo_taken(self, photo: Photo | None, problem: str) -> None:
        super().photo_taken(photo, problem)
        self.photo_count = len(self.photos)

    def show_fix(self, *_args: Any) -> None:
        capture = _app().device.capture
        self.fix_text = describe_fix(capture.location.current_fix(), capture.now())

    def scan_with_camera(self) -> None:
        _app().photo_source.take(self.scan_taken)

    def scan_taken(self, picture: Photo | None, problem: str) -> None:
        """Barcodes read from the picture join the typed ones; the picture is not kept."""
        if picture is None:
            self.message = problem or _("No picture was taken.")
            return
        try:
            codes = decode(picture.data)
        except ScannerMissing as exc:
            self.message = _("{problem}: type the barcodes instead.").format(problem=exc)
            return
        if not codes:
            self.message = _("No barcode found in the picture: try closer, or type it.")
            return
        typed = self.ids.barcodes.text.replace(",", " ").split()
        self.ids.barcodes.text = " ".join(dict.fromkeys([*typed, *codes]))
        self.show_scans()

    def show_scans(self) -> None:
        store = _app().device.store
        codes = self.ids.barcodes.text.replace(",", " ").split()
        self.scan_status = check_scans(codes, _current_stop(), store.stops()).summary()

    def save(self) -> None:
        app = _app()
        evidence = list(self.photos)
        if self.ids.pad.strokes:
            signature = Evidence(self.ids.pad.to_png(), EvidenceKind.SIGNATURE, "image/png")
            evidence.insert(0, signature)
        barcodes = [b for b in self.ids.barcodes.text.replace(",", " ").split() if b]
        where = self.where_labels.get(self.ids.where.text, WhereLeft.HANDED_TO_RECIPIENT.value)
        try:
            app.device.capture.deliver(
                app.current_stop_id,
                self.ids.recipient.text.strip(),
                barcodes,
                where,
                evidence,
                True if self.ids.age.active else None,
            )
        except CaptureRefused as exc:
            self.message = _("Not saved: {reasons}").format(reasons="; ".join(exc.reasons))
            return
        app.after_capture(_("{stop}: delivery saved.").format(stop=stop_number(_current_stop())))


class FailureScreen(PhotoTaking, Screen):
    message = StringProperty("")
    photo_button = StringProperty("")
    reason_labels = DictProperty({label(FAILURE_REASON, r.value): r.value for r in FailureReason})
    reasons = ListProperty([label(FAILURE_REASON, r.value) for r in FailureReason])

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.photos = []
        self.photo_button = _photo_count_text(0)
        self.ids.reason.text = _("Choose a reason")
        self.ids.note.text = ""

    def save(self, reason_text: str, note: str) -> None:
        app = _app()
        reason = self.reason_labels.get(reason_text)
        if reason is None:
            self.message = _("Choose a reason.")
            return
        try:
            app.device.capture.fail(app.current_stop_id, reason, note.strip(), self.photos)
        except CaptureRefused as exc:
            self.message = _("Not saved: {reasons}").format(reasons="; ".join(exc.reasons))
            return
        except EventRejected as exc:  # the domain's validation, e.g. 'other' needs a note
            self.message = _("Not saved: {reason}").format(reason=exc.message)
            return
        app.after_capture(
            _("{stop}: failed attempt saved.").format(stop=stop_number(_current_stop()))
        )


class SyncStatusScreen(Screen):
    summary = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        store = app.device.store
        last = store.get("last_sync")
        lines = [
            _("Last sync: {time}").format(
                time=local_time(last, app.zone()) if last else _("never")
            ),
            _("Waiting to sync: {events} capture(s), {files} file(s)").format(
                events=store.pending_count(), files=len(store.pending_files())
            ),
            _("Problem: {problem}").format(problem=app.sync_error or _("none")),
        ]
        numbers = {s["id"]: stop_number(s) for s in store.stops()}
        for row in store.conflicts():
            lines.append(
                _("{stop}: {kind}").format(
                    stop=numbers.get(row["stop_id"], _("A stop")),
                    kind=label(CONFLICT_KIND, row["kind"]),
                )
            )
        for row in store.rejected_events():
            lines.append(
                _("{stop}: not accepted, {reason}").format(
                    stop=numbers.get(row["stop_id"], _("A stop")),
                    reason=rejection(row["result_code"] or ""),
                )
            )
        if app.device.orphans:
            lines.append(_("Recovered files kept: {count}").format(count=len(app.device.orphans)))
        self.summary = "\n".join(lines)


class DayScreen(Screen):
    """The day at a glance: done, failed, still to do, and what has not reached the office."""

    summary = StringProperty("")
    message = StringProperty("")

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        store = app.device.store
        stops = store.stops()
        counts = {
            "done": sum(1 for s in stops if s["status"] in DONE),
            "failed": sum(1 for s in stops if s["status"] == StopStatus.FAILED.value),
            "left": sum(1 for s in stops if s["status"] in LEFT),
        }
        lines = [
            _("Delivered: {done}").format(**counts),
            _("Not delivered: {failed}").format(**counts),
            _("Still to do: {left}").format(**counts),
            _("Waiting to sync: {events} capture(s), {files} file(s)").format(
                events=store.pending_count(), files=len(store.pending_files())
            ),
        ]
        oldest = store.oldest_waiting_capture_at()
        if oldest is not None:
            age = app.device.capture.now() - datetime.fromisoformat(oldest)
            minutes = max(0, int(age.total_seconds() // 60))
            lines.append(
                _("Oldest capture waiting: {minutes} min (saved at {time})").format(
                    minutes=minutes, time=local_time(oldest, app.zone())
                )
            )
        self.summary = "\n".join(lines)
