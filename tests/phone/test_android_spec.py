"""What CI can check of the Android package without the Android SDK.

The SDK and NDK cannot be downloaded on these machines, so the APK itself is never
built here. Everything buildozer and python-for-android would decide before compiling
is checked instead, with their own code: which files are packed, which requirements
have a recipe, and what the services and permissions are.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

from buildozer import Buildozer
from buildozer.logger import Logger
from buildozer.specparser import SpecParser
from pythonforandroid.build import Context
from pythonforandroid.recipe import Recipe

from backend.config import PROJECT_ROOT
from driver_client.android import service
from tests.phone.test_install import _groups, _name

SPEC = PROJECT_ROOT / "buildozer.spec"


def _spec() -> SpecParser:
    spec = SpecParser()
    spec.read(str(SPEC))
    return spec


def _requirements() -> dict[str, str | None]:
    """Each requirement's name and its pinned version (None: the recipe's own)."""
    pins: dict[str, str | None] = {}
    for requirement in _spec().getlist("app", "requirements"):
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip() or None
    return pins


def _recipes() -> dict[str, Recipe]:
    context = Context()
    return {name.lower(): Recipe.get_recipe(name, context) for name in Recipe.list_recipes(context)}


def _is_pure_python(distribution: str) -> bool:
    wheel = metadata.distribution(distribution).read_text("WHEEL") or ""
    return "Root-Is-Purelib: true" in wheel


def test_every_requirement_has_a_recipe_or_is_pure_python() -> None:
    recipes = _recipes()
    for name, version in _requirements().items():
        if name in recipes:
            # A pin other than the recipe's version would build sources its patches
            # were not written for.
            assert version in (None, recipes[name].version), f"{name}: pin the recipe's version"
        else:
            assert version is not None, f"{name} has no recipe: pin the version pip installs"
            assert _is_pure_python(name), f"{name} has no recipe and is not pure Python"


def test_the_apk_carries_every_library_of_the_driver_group() -> None:
    driver, _ = _groups()
    requirements = _requirements()
    for requirement in driver:
        name, version = _name(requirement), requirement.split("==")[1]
        assert name in requirements, f"{name} is in the driver group but not in buildozer.spec"
        assert requirements[name] in (None, version), f"{name}: one version where pinned"


def _load(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"_apk_entry_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_entry_point_and_the_service_import() -> None:
    _load(PROJECT_ROOT / "main.py")
    for declared in _spec().getlist("app", "services"):
        name, entry, *options = declared.split(":")
        assert (PROJECT_ROOT / entry).is_file(), entry
        _load(PROJECT_ROOT / entry)
        assert "foreground" in options, "sync must go on with the screen off"
        java_class = ".".join(
            [
                _spec().get("app", "package.domain"),
                _spec().get("app", "package.name"),
                f"Service{name.capitalize()}",
            ]
        )
        assert java_class == service.SERVICE_CLASS


def test_the_foreground_service_may_run_and_show_its_notification() -> None:
    permissions = set(_spec().getlist("app", "android.permissions"))
    [declared] = _spec().getlist("app", "services")
    service_type = re.search(r"foregroundServiceType=(\w+)", declared)
    assert service_type is not None
    assert service_type.group(1) == "dataSync"
    assert {"FOREGROUND_SERVICE", "FOREGROUND_SERVICE_DATA_SYNC", "POST_NOTIFICATIONS"} <= (
        permissions
    )
    assert {"INTERNET", "ACCESS_NETWORK_STATE"} <= permissions


class _CopyInto(Buildozer):  # type: ignore[misc]  # buildozer ships no types
    """Buildozer's own source selection, writing into a folder of the test's."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.config = _spec()
        self.config.set("app", "source.dir", str(PROJECT_ROOT))
        self.logger = Logger()

    @property
    def app_dir(self) -> str:
        return str(self.target)


def test_the_apk_packs_the_app_and_the_shared_rules_and_nothing_of_the_server(
    tmp_path: Path,
) -> None:
    _CopyInto(tmp_path)._copy_application_sources()
    packed = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}

    def sources(folder: str, *suffixes: str) -> set[str]:
        return {
            p.relative_to(PROJECT_ROOT).as_posix()
            for p in (PROJECT_ROOT / folder).rglob("*")
            if p.suffix in suffixes and "__pycache__" not in p.parts
        }

    expected = (
        {"main.py", "backend/__init__.py"}
        | sources("backend/domain", ".py")
        | sources("driver_client", ".py", ".kv", ".txt", ".mo")
    )
    assert packed == expected


def test_make_apk_names_what_is_missing_instead_of_downloading_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ANDROID_SDK_ROOT", "ANDROID_NDK_HOME")}
    result = subprocess.run(
        ["make", "--no-print-directory", "apk"],  # noqa: S607 - make from PATH, like a person
        cwd=PROJECT_ROOT,
        env={**env, "ANDROID_SDK_ROOT": str(tmp_path / "no-sdk")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ANDROID_SDK_ROOT" in result.stderr
    assert "ANDROID_NDK_HOME" in result.stderr
    assert "docs/driver-client.md" in result.stderr
    assert "buildozer android" not in result.stdout
