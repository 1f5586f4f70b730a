"""The desktop's photo picker in a real Kivy window; run by test_file_picker.py under Xvfb.

Prints ``RESULT {json}`` with what each answer was, or ``FAILED <reason>``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from kivy.app import App
from kivy.clock import Clock
from kivy.uix.widget import Widget

from backend.domain.clock import SetClock
from driver_client.capture import FixedLocation
from driver_client.photos import Photo, Stamper
from driver_client.ui.file_picker import FilePickerSource


def _buttons(popup: Any) -> dict[str, Any]:
    return {w.text: w for w in popup.content.walk() if hasattr(w, "on_release")}


def _chooser(popup: Any) -> Any:
    return next(w for w in popup.content.walk() if type(w).__name__ == "FileChooserListView")


class PickerApp(App):  # type: ignore[misc]
    def __init__(self, folder: Path, now: SetClock) -> None:
        super().__init__()
        self.source = FilePickerSource(
            folder, Stamper(FixedLocation(1.0, 2.0, 5, now.now), now.now)
        )
        self.answers: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {}

    def build(self) -> Widget:
        Clock.schedule_once(self.run_steps, 0.5)
        return Widget()

    def answer(self, photo: Photo | None, problem: str) -> None:
        self.answers.append(
            {"photo": None if photo is None else len(photo.data), "problem": problem}
        )

    def run_steps(self, _dt: float) -> None:
        self.source.take(self.answer)
        # The chooser lists the folder on Kivy's clock: look once it has.
        Clock.schedule_once(self.cancel_then_choose, 0.5)

    def cancel_then_choose(self, _dt: float) -> None:
        try:
            popup = self.source.popup
            self.result["listed"] = sorted(Path(f).name for f in _chooser(popup).files)
            self.result["use_disabled_before_choosing"] = _buttons(popup)["Use this photo"].disabled
            _buttons(popup)["Cancel"].dispatch("on_release")
            self.source.take(self.answer)
            popup = self.source.popup
            _chooser(popup).selection = [str(self.source.folder / "older.jpg")]
            _buttons(popup)["Use this photo"].dispatch("on_release")
            self.result["answers"] = self.answers
            print("RESULT " + json.dumps(self.result), flush=True)
        except Exception:
            print("FAILED " + traceback.format_exc().replace("\n", " | "), flush=True)
        self.stop()


if __name__ == "__main__":
    from datetime import datetime

    PickerApp(Path(sys.argv[1]), SetClock(datetime.fromisoformat(sys.argv[2]))).run()
