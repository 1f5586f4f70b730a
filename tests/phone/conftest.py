"""Kivy reads its settings from the environment when first imported: keep it quiet and
its home out of the user's, before any test here imports the phone's app."""

from __future__ import annotations

import os

from backend.config import VAR_DIR

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", str(VAR_DIR / "kivy-test"))

from tests.client.conftest import database_url, server, stop_ids  # noqa: F401 - shared fixtures
