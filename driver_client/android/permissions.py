"""Asking the driver for Android's runtime permissions, and saying what a refusal costs.

The camera, the position and (Android 13 and later) notifications are "dangerous"
permissions: listing them in buildozer.spec is not enough, the app must ask while it
runs, and the driver may say no. A refusal never stops the app: every capture still
saves (with "no fix", without a photo), but the driver is told in plain words what
they cannot do without it and where to allow it later.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from driver_client.android.jni import AutoClass, autoclass

_WHERE = "Allow it in Settings > Apps > Doorstep driver > Permissions."


class Need(enum.Enum):
    """What the app asks for, by what the driver gets from it."""

    CAMERA = "camera"
    LOCATION = "location"
    NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Ask:
    need: Need
    android_name: str
    without_it: str  # what the driver cannot do without it, in their words
    since_sdk: int = 0  # the Android version (API level) that made it a runtime permission


ASKS = (
    Ask(
        Need.CAMERA,
        "android.permission.CAMERA",
        "Without the camera the app cannot take delivery photos or scan parcels with it: "
        "stops that need a photo cannot be delivered, and barcodes must be typed.",
    ),
    Ask(
        Need.LOCATION,
        "android.permission.ACCESS_FINE_LOCATION",
        "Without your location every delivery is saved with 'no position', and back "
        "office cannot show it was made at the door.",
    ),
    Ask(
        Need.NOTIFICATIONS,
        "android.permission.POST_NOTIFICATIONS",
        "Without notifications Android may stop a sync when the screen is off: your "
        "deliveries then wait on the phone until you open the app again.",
        since_sdk=33,
    ),
)


class PermissionApi(Protocol):
    """The part of python-for-android's ``android.permissions`` the app uses."""

    def check_permission(self, permission: str) -> bool: ...

    def request_permissions(
        self,
        permissions: list[str],
        callback: Callable[[list[str], list[bool]], None],
    ) -> None: ...


@dataclass(frozen=True)
class Answer:
    granted: frozenset[Need]
    refused: tuple[Ask, ...]

    def explanation(self) -> str:
        """What the refusals cost, for the driver; empty when nothing was refused."""
        if not self.refused:
            return ""
        return "\n\n".join([*(ask.without_it for ask in self.refused), _WHERE])


def android_permissions() -> PermissionApi:
    """python-for-android's own module, only on the phone."""
    from android import permissions

    api: PermissionApi = permissions
    return api


def sdk_int(load: AutoClass = autoclass) -> int:
    """The phone's Android API level."""
    return int(load("android.os.Build$VERSION").SDK_INT)


def request(
    api: PermissionApi,
    sdk: int,
    on_answer: Callable[[Answer], None],
    asks: Sequence[Ask] = ASKS,
) -> None:
    """Ask for what is not yet granted; ``on_answer`` gets the whole picture.

    Android calls back on its own thread: ``on_answer`` must hand any UI work to
    Kivy's (``kivy.clock.mainthread``).
    """
    relevant = [ask for ask in asks if sdk >= ask.since_sdk]
    held = {ask.need for ask in relevant if api.check_permission(ask.android_name)}
    missing = [ask for ask in relevant if ask.need not in held]
    if not missing:
        on_answer(Answer(frozenset(held), ()))
        return

    def answered(names: list[str], results: list[bool]) -> None:
        said_yes = {name for name, ok in zip(names, results, strict=False) if ok}
        granted = held | {ask.need for ask in missing if ask.android_name in said_yes}
        refused = tuple(ask for ask in missing if ask.need not in granted)
        on_answer(Answer(frozenset(granted), refused))

    api.request_permissions([ask.android_name for ask in missing], answered)
