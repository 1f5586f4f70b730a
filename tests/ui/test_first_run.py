"""`make driver` on a fresh clone: the app starts with a data folder that does not exist yet."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="Xvfb is not installed (make test installs it)"
)


def test_the_app_opens_on_the_first_run_and_creates_its_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "var" / "driver"  # neither folder exists, as on a fresh clone
    env = {k: v for k, v in os.environ.items() if k != "KIVY_HOME"}
    process = subprocess.Popen(  # noqa: S603 - fixed argv: Xvfb wrapper and the app
        [
            str(shutil.which("xvfb-run")),
            "-a",
            sys.executable,
            "-m",
            "driver_client.ui",
            "--server",
            "http://127.0.0.1:9",  # nothing listens: the login screen waits offline
            "--data",
            str(data),
        ],
        env={**env, "KIVY_NO_CONSOLELOG": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # xvfb-run does not pass a TERM on: end its whole group
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if (data / "device.db").exists() and any((data / "kivy" / "logs").glob("*")):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # past building the screens
        assert process.poll() is None, process.communicate()[1][-2000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)
    assert (data / "device.db").exists()
