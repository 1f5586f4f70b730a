"""The Kivy app: a thin shell that shows the store and calls capture and sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from backend.domain.clock import zone
from driver_client.device import Device
from driver_client.handoff import DesktopHandoff, Handoff
from driver_client.photos import PhotoSource
from driver_client.sync import BackgroundSync, SyncReport
from driver_client.ui import screens
from driver_client.ui.display import next_open_stop, stop_number, window_text
from driver_client.ui.widgets import SignaturePad

KV_DIR = Path(__file__).parent / "kv"
KV_FILES = (
    "common",
    "login",
    "password",
    "manifest",
    "stop",
    "capture",
    "failure",
    "sync",
    "day",
)
SCREENS = (
    ("login", screens.LoginScreen),
    ("password", screens.PasswordScreen),
    ("manifest", screens.ManifestScreen),
    ("stop", screens.StopScreen),
    ("capture", screens.CaptureScreen),
    ("failure", screens.FailureScreen),
    ("sync", screens.SyncStatusScreen),
    ("day", screens.DayScreen),
)


class DriverApp(App):
    title = "Doorstep driver"
    pending_count = NumericProperty(0)
    sync_error = StringProperty("")
    # The stop being worked, as the stop, capture and failure screens head it.
    stop_heading = StringProperty("")
    stop_address = StringProperty("")
    stop_recipient = StringProperty("")

    def __init__(
        self,
        device: Device,
        photo_source: PhotoSource,
        sync_interval_s: float = 60.0,
        handoff: Handoff | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device = device
        self.photo_source = photo_source
        self.handoff: Handoff = handoff or DesktopHandoff()
        self.sync_interval_s = sync_interval_s
        self.current_stop_id = 0
        self.sync: BackgroundSync | None = None
        self._seen_report: SyncReport | None = None

    def build(self) -> ScreenManager:
        Factory.register("SignaturePad", cls=SignaturePad)
        Factory.register("StopRow", cls=screens.StopRow)
        for name in KV_FILES:
            Builder.load_file(str(KV_DIR / f"{name}.kv"))
        manager = ScreenManager(transition=NoTransition())
        for name, screen in SCREENS:
            manager.add_widget(screen(name=name))
        if self.device.store.get("access_token"):
            # Logged in earlier this shift: straight to the list, even offline (or to
            # the password the server still waits for).
            manager.current = "password" if self.password_change_due() else "manifest"
            self.start_sync()
        else:
            manager.current = "login"
        Clock.schedule_interval(self._tick, 0.5)
        self._tick(0)
        return manager

    def show(self, name: str) -> None:
        self.root.current = name

    def zone(self) -> ZoneInfo:
        """The organization's time zone, as the server last named it."""
        return zone(self.device.store.get("time_zone"))

    def password_change_due(self) -> bool:
        return bool(self.device.store.get("must_change_password", ""))

    def open_stop(self, stop_id: int, message: str = "") -> None:
        self.current_stop_id = stop_id
        self.show_heading()
        self.root.get_screen("stop").message = message
        self.show("stop")

    def show_heading(self) -> None:
        """Head the screens with the stop as the store has it now (a sync may have moved
        its window or changed its recipient)."""
        stop = self.device.store.stop(self.current_stop_id) or {}
        self.stop_heading = f"{stop_number(stop)}   {window_text(stop, self.zone())}"
        self.stop_address = str(stop.get("address", ""))
        self.stop_recipient = str((stop.get("recipient") or {}).get("name") or "")

    def start_sync(self) -> None:
        if self.sync is None:
            self.sync = BackgroundSync(self.device.engine, self.sync_interval_s)
            self.sync.start()

    def sync_now(self) -> None:
        if self.sync is not None:
            self.sync.nudge()

    def after_capture(self, saved: str) -> None:
        """An outcome was saved: offer the next stop to do, or the day when none is left."""
        self._tick(0)
        self.sync_now()
        following = next_open_stop(self.device.store.stops(), self.current_stop_id)
        if following is None:
            self.root.get_screen("day").message = saved
            self.show("day")
        else:
            self.open_stop(following, saved)

    def login_ended(self, why: str) -> None:
        """The server ended this login mid-shift (a password reset, a revoked phone):
        back to the login screen, the driver's name filled in. The outbox and the day
        stay in the store, and the next login's sync sends them from this same device."""
        if self.sync is not None:
            self.sync.stop()
            self.sync = None
        login = self.root.get_screen("login")
        login.message = why
        login.ids.username.text = str(self.device.store.get("username") or "")
        login.ids.password.text = ""
        self.show("login")

    def _tick(self, _dt: float) -> None:
        self.pending_count = self.device.store.pending_count()
        if self.sync is not None and self.sync.login_ended and self.root is not None:
            self.login_ended(self.sync.last_error or "")
        if self.sync is not None:
            self.sync_error = self.sync.last_error or ""
            report = self.sync.last_report
            if report is not None and report is not self._seen_report:
                self._seen_report = report
                if self.root is not None:
                    self.show_heading()
                    for name in ("manifest", "stop", "sync", "day"):
                        self.root.get_screen(name).refresh()

    def on_stop(self) -> None:
        if self.sync is not None:
            self.sync.stop()
