"""On a desktop the driver picks the photo's file; nothing is taken silently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from backend.domain.clock import SetClock

SCRIPT = Path(__file__).with_name("pick_photo.py")

pytestmark = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="Xvfb is not installed (make test installs it)"
)


def test_the_desktop_photo_is_the_file_the_driver_chose(tmp_path: Path, clock: SetClock) -> None:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    Image.new("RGB", (40, 30), "tan").save(folder / "older.jpg")
    Image.new("RGB", (80, 60), "red").save(folder / "newest.png")
    (folder / "notes.txt").write_text("not a photo")
    older = (folder / "older.jpg").stat().st_size
    env = {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
    result = subprocess.run(  # noqa: S603 - fixed argv: Xvfb wrapper and our own script
        [
            str(shutil.which("xvfb-run")),
            "-a",
            "-s",
            "-screen 0 480x800x24",
            sys.executable,
            str(SCRIPT),
            str(folder),
            clock.now().isoformat(),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    [line] = [x for x in result.stdout.splitlines() if x.startswith(("RESULT ", "FAILED "))]
    assert line.startswith("RESULT "), line
    seen = json.loads(line.removeprefix("RESULT "))
    assert seen["listed"] == ["..", "newest.png", "older.jpg"]  # images (and the way up) only
    assert seen["use_disabled_before_choosing"] is True
    assert seen["answers"] == [
        {"photo": None, "problem": "No photo was chosen."},
        {"photo": older, "problem": ""},  # the chosen file, not the newest one
    ]
