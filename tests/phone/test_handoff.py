"""Navigation and calls on the phone: the intents started, against a fake of pyjnius."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driver_client.android.handoff import AndroidHandoff


@dataclass
class FakeAndroid:
    """``autoclass`` for Intent, Uri and the activity; ``handlers`` are the URI schemes
    some installed app answers (a phone with no map app has no "geo")."""

    handlers: set[str] = field(default_factory=lambda: {"geo", "https", "tel"})
    started: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, name: str) -> Any:
        android = self

        class Uri:
            @staticmethod
            def parse(text: str) -> str:
                return text

        class Intent:
            def __init__(self, action: str, uri: str) -> None:
                self.action, self.uri = action, uri

            def resolveActivity(self, _manager: Any) -> Any:  # noqa: N802 - Java's name
                return "an app" if self.uri.split(":")[0] in android.handlers else None

        class Activity:
            def getPackageManager(self) -> str:  # noqa: N802 - Java's name
                return "the package manager"

            def startActivity(self, intent: Intent) -> None:  # noqa: N802 - Java's name
                android.started.append((intent.action, intent.uri))

        class PythonActivity:
            mActivity = Activity()  # noqa: N815 - the Java field's name

        return {
            "android.content.Intent": Intent,
            "android.net.Uri": Uri,
            "org.kivy.android.PythonActivity": PythonActivity,
        }[name]


def test_navigation_opens_the_map_app_at_the_stop() -> None:
    android = FakeAndroid()
    assert AndroidHandoff(android).navigate(47.6097, -122.3331, "1 Pike St")
    assert android.started == [
        ("android.intent.action.VIEW", "geo:47.6097,-122.3331?q=47.6097,-122.3331(1%20Pike%20St)")
    ]


def test_without_a_map_app_the_web_map_opens() -> None:
    android = FakeAndroid(handlers={"https", "tel"})
    assert AndroidHandoff(android).navigate(47.6, -122.3, "x")
    assert android.started == [
        (
            "android.intent.action.VIEW",
            "https://www.openstreetmap.org/?mlat=47.6&mlon=-122.3#map=18/47.6/-122.3",
        )
    ]


def test_nothing_to_open_it_with_is_said_not_raised() -> None:
    android = FakeAndroid(handlers=set())
    handoff = AndroidHandoff(android)
    assert handoff.navigate(47.6, -122.3, "x") is False
    assert handoff.call("+12065550100") is False
    assert android.started == []


def test_a_call_opens_the_dialler_with_the_number_filled_in() -> None:
    android = FakeAndroid()
    assert AndroidHandoff(android).call("+1 206-555-0100")
    assert android.started == [("android.intent.action.DIAL", "tel:+12065550100")]
    assert AndroidHandoff(android).call("") is False
