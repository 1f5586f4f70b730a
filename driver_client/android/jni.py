"""The one door to Java: ``autoclass`` from pyjnius, imported only when called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AutoClass = Callable[[str], Any]


def autoclass(name: str) -> Any:
    """The Java class ``name``; only on the phone, where p4a's pyjnius is packaged."""
    from jnius import autoclass as load

    return load(name)


def activity(load: AutoClass = autoclass) -> Any:
    """The app's running Android activity (python-for-android's PythonActivity)."""
    return load("org.kivy.android.PythonActivity").mActivity
