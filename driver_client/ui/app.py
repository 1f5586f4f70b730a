"""The Kivy app: a thin shell that shows the store and calls capture and sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from driver_client.device import Device
from driver_client.photos import PhotoSource
from driver_client.sync import BackgroundSync, SyncReport
from driver_client.ui import screens
from driver_client.ui.widgets import SignaturePad

KV_DIR = Path(__file__).parent / "kv"
KV_FILES = ("common", "login", "manifest", "stop", "capture", "failure", "sync")
SCREENS = (
    ("login", screens.LoginScreen),
    ("manifest", screens.ManifestScreen),
    ("stop", screens.StopScreen),
    ("capture", screens.CaptureScreen),
    ("failure", screens.FailureScreen),
    ("sync", screens.SyncStatusScreen),
)


class DriverApp(App):
    title = "Doorstep driver"
    pending_count = NumericProperty(0)
    sync_error = StringProperty("")

    def __init__(
        self,
        device: Device,
        photo_source: PhotoSource,
        sync_interval_s: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device = device
        self.photo_source = photo_source
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
            # Logged in earlier this shift: straight to the list, even offline.
            manager.current = "manifest"
            self.start_sync()
        else:
            manager.current = "login"
        Clock.schedule_interval(self._tick, 0.5)
        self._tick(0)
        return manager

    def show(self, name: str) -> None:
        self.root.current = name

    def start_sync(self) -> None:
        if self.sync is None:
            self.sync = BackgroundSync(self.device.engine, self.sync_interval_s)
            self.sync.start()

    def sync_now(self) -> None:
        if self.sync is not None:
            self.sync.nudge()

    def after_capture(self) -> None:
        self.show("manifest")
        self._tick(0)
        self.sync_now()

    def _tick(self, _dt: float) -> None:
        self.pending_count = self.device.store.pending_count()
        if self.sync is not None:
            self.sync_error = self.sync.last_error or ""
            report = self.sync.last_report
            if report is not None and report is not self._seen_report:
                self._seen_report = report
                if self.root is not None:
                    self.root.get_screen("manifest").refresh()
                    self.root.get_screen("sync").refresh()

    def on_stop(self) -> None:
        if self.sync is not None:
            self.sync.stop()
