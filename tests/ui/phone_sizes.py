"""Measures the running app at a phone's size; run by test_phone_sizes.py under Xvfb.

Every screen is shown with a day of stops, and every visible widget is measured from
the widget tree: touch targets in dp, text in sp (a markup-sized second line at least
14 sp), and the contrast of text with what it sits on (WCAG's relative luminance).
Every text, hint and menu entry is searched for a raw protocol code, and the screens
that work a stop are checked to name it. Prints ``RESULT {json}`` or ``FAILED``; with
a folder as the last argument, it also saves each screen there as
``driver-<width>x<height>-<screen>.png``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from kivy.config import Config

WIDTH, HEIGHT = int(sys.argv[2]), int(sys.argv[3])
Config.set("graphics", "width", str(WIDTH))
Config.set("graphics", "height", str(HEIGHT))

from kivy.clock import Clock  # noqa: E402
from kivy.metrics import dp, sp  # noqa: E402
from kivy.uix.button import Button  # noqa: E402
from kivy.uix.checkbox import CheckBox  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.spinner import Spinner  # noqa: E402
from kivy.uix.textinput import TextInput  # noqa: E402

from backend.domain.clock import SetClock  # noqa: E402
from backend.domain.events import EventResultStatus, FailureReason, WhereLeft  # noqa: E402
from backend.domain.outcome import ConflictKind  # noqa: E402
from backend.domain.stops import StopStatus  # noqa: E402
from driver_client.capture import FixedLocation  # noqa: E402
from driver_client.device import Device  # noqa: E402
from driver_client.photos import NoCamera  # noqa: E402
from driver_client.ui.app import DriverApp  # noqa: E402

SCREEN_BACKGROUND = (0.96, 0.96, 0.95)
MIN_TARGET_DP, MIN_TEXT_SP, MIN_SECONDARY_SP, MIN_CONTRAST = 48, 16, 14, 4.5
# Codes a driver must never read as they are (the ones that are not plain words).
RAW_CODES = {
    code.value
    for codes in (WhereLeft, FailureReason, StopStatus, ConflictKind, EventResultStatus)
    for code in codes
    if "_" in code.value
} | {"note_required"}  # the refusal shown on the sync screen
MARKUP_SIZE = re.compile(r"\[size=([\d.]+)sp\]")
# The first stop, as every screen working it must name it: in Los Angeles, its
# 16:00-20:00 UTC window is 08:00-12:00.
STOP_ONE = ["Stop 1", "08:00-12:00", "101 Fremont Ave N, Seattle, WA 98103", "Recipient 1"]
STATUSES = {3: "evidence_pending", 4: "failed", 5: "delivered", 6: "cancelled"}


def luminance(rgb: Any) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(v)) for v in list(rgb)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Any, b: Any) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _stop(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "version": 1,
        "sequence": n,
        "status": STATUSES.get(n, "pending"),
        "order_number": f"O{n}",
        "address": f"{100 + n} Fremont Ave N, Seattle, WA 98103",
        "time_window": {"start": "2026-11-24T16:00:00Z", "end": "2026-11-24T20:00:00Z"},
        "recipient": {"name": f"Recipient {n}", "phone": "+12065550100"},
        "parcels": [{"barcode": f"P{n}"}],
        "proof_policy": {"signature": True, "min_photos": 1},
        "instructions": "Leave at the back door",
        "location": {"lat": 47.6, "lon": -122.3},
    }


def measure(screen_name: str, root: Any) -> tuple[int, list[str]]:
    checked, problems = 0, []
    for widget in root.walk():
        if widget.opacity == 0 or widget.width <= 0 or widget.height <= 0:
            continue
        name = f"{screen_name}: {type(widget).__name__} {getattr(widget, 'text', '')[:30]!r}"
        if isinstance(widget, Button | TextInput | CheckBox):
            checked += 1
            smallest = min(widget.width, widget.height) / dp(1)
            if smallest < MIN_TARGET_DP - 0.5:
                problems.append(f"{name}: touch target {smallest:.0f}dp < {MIN_TARGET_DP}dp")
        if isinstance(widget, Label | TextInput) and widget.text:
            checked += 1
            size = widget.font_size / sp(1)
            if size < MIN_TEXT_SP - 0.01:
                problems.append(f"{name}: text {size:.1f}sp < {MIN_TEXT_SP}sp")
            for secondary in MARKUP_SIZE.findall(widget.text if widget.markup else ""):
                if float(secondary) < MIN_SECONDARY_SP:
                    problems.append(f"{name}: secondary text {secondary}sp < {MIN_SECONDARY_SP}sp")
            if isinstance(widget, TextInput):
                pair = (widget.foreground_color, widget.background_color)
            elif isinstance(widget, Button):
                pair = (widget.color, widget.background_color)
            else:
                pair = (widget.color, SCREEN_BACKGROUND)
            ratio = contrast(*pair)
            if ratio < MIN_CONTRAST:
                problems.append(f"{name}: contrast {ratio:.2f}:1 < {MIN_CONTRAST}:1")
    return checked, problems


def shown_texts(root: Any) -> list[str]:
    """Every text the driver can read on the screen: labels, buttons, hints, menus."""
    texts = []
    for widget in root.walk():
        if widget.opacity == 0:
            continue
        texts += [str(getattr(widget, "text", "")), str(getattr(widget, "hint_text", ""))]
        if isinstance(widget, Spinner):
            texts += [str(v) for v in widget.values]
    return [t for t in texts if t]


def raw_codes(screen_name: str, texts: list[str]) -> list[str]:
    return [
        f"{screen_name}: {code!r} in {text[:60]!r}"
        for text in texts
        for code in RAW_CODES
        if re.search(rf"\b{code}\b", text)
    ]


def main() -> None:
    data, now = Path(sys.argv[1]), SetClock(datetime.fromisoformat(sys.argv[4])).now
    shots = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    device = Device(data, "http://127.0.0.1:9", FixedLocation(47.6, -122.3, 5, now), now)
    device.store.put("access_token", "unused")  # open straight on the list
    device.store.put("time_zone", "America/Los_Angeles")
    with device.store.transaction() as db:
        for n in range(1, 41):
            device.store.upsert_stop(db, _stop(n))
        conflict = {"id": 1, "stop_id": 6, "event_ids": ["e"], "detail": "...", "status": "open"}
        device.store.upsert_conflicts(db, [{**conflict, "kind": "delivered_after_cancel"}])
    refused = device.capture.note(7, "Dog")  # the server refused it, and says why
    with device.store.transaction() as db:
        device.store.record_result(db, refused["id"], "rejected", "note_required")
    device.capture.arrive(2)  # something waiting: the sync badge shows in amber
    app = DriverApp(device, NoCamera(), sync_interval_s=3600)
    result: dict[str, Any] = {
        "checked": 0,
        "problems": [],
        "window": [],
        "raw_codes": [],
        "unnamed_stop": [],
        "texts": {},
    }
    screens = ["manifest", "stop", "capture", "failure", "sync", "day", "login", "password"]

    def visit(_dt: float) -> None:
        try:
            if result["window"] == []:
                from kivy.core.window import Window

                result["window"] = [Window.width, Window.height]
            if screens:
                name = screens.pop(0)
                app.open_stop(1)
                app.show(name)
                Clock.schedule_once(lambda _dt: check(name), 0.4)
                return
            print("RESULT " + json.dumps(result), flush=True)
        except Exception:
            print("FAILED " + traceback.format_exc().replace("\n", " | "), flush=True)
        app.stop()

    def check(name: str) -> None:
        if shots is not None:
            app.root.export_to_png(str(shots / f"driver-{WIDTH}x{HEIGHT}-{name}.png"))
        screen = app.root.current_screen
        checked, problems = measure(name, screen)
        result["checked"] += checked
        result["problems"] += problems
        texts = shown_texts(screen)
        result["texts"][name] = texts
        result["raw_codes"] += raw_codes(name, texts)
        if name in ("stop", "capture", "failure"):
            shown = "\n".join(texts)
            result["unnamed_stop"] += [f"{name}: {x}" for x in STOP_ONE if x not in shown]
        visit(0)

    Clock.schedule_once(visit, 0.5)
    app.run()
    device.close()


if __name__ == "__main__":
    main()
