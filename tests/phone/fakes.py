"""Fakes of the Android APIs the phone's code calls (pyjnius, android.permissions, plyer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakePermissions:
    """``android.permissions``: what is held, and what the driver will answer."""

    held: set[str] = field(default_factory=set)
    will_allow: set[str] = field(default_factory=set)
    asked: list[list[str]] = field(default_factory=list)

    def check_permission(self, permission: str) -> bool:
        return permission in self.held

    def request_permissions(
        self, permissions: list[str], callback: Callable[[list[str], list[bool]], None]
    ) -> None:
        self.asked.append(list(permissions))
        results = [p in self.will_allow for p in permissions]
        self.held |= {p for p, ok in zip(permissions, results, strict=True) if ok}
        callback(permissions, results)


@dataclass
class FakeJava:
    """pyjnius' ``autoclass``: records every static call made on a Java class."""

    calls: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    sdk_int: int = 34

    def __call__(self, name: str) -> Any:
        java = self

        class JavaClass:
            SDK_INT = java.sdk_int
            mActivity = "the activity"  # noqa: N815 - the Java field's name

            def __getattr__(self, method: str) -> Callable[..., None]:
                return lambda *args: java.calls.append((name, method, args))

        instance = JavaClass()
        if name == "org.kivy.android.PythonService":
            instance.mService = instance  # type: ignore[attr-defined]
        return instance


@dataclass
class FakeGps:
    """plyer's ``gps``: the app configures it and starts it; the test sends fixes."""

    on_location: Callable[..., None] | None = None
    started: bool = False

    def configure(self, on_location: Callable[..., None]) -> None:
        self.on_location = on_location

    def start(self, **settings: int) -> None:
        self.started = True
