"""The driver app's own install: the `driver` group is everything the app loads.

The phone (and `make driver-deps`) installs the `driver` group and this project with
``--no-deps``, so a library the app imports but the group forgets would only fail on
a phone. A fresh interpreter imports the app the way the phone does and names the
distributions it loaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata

from backend.config import PROJECT_ROOT, VAR_DIR

# Every module the phone runs: the core, the command line, the Kivy shell.
APP_MODULES = (
    "driver_client.device",
    "driver_client.media",
    "driver_client.__main__",
    "driver_client.ui.app",
    "driver_client.ui.__main__",
)
SERVER_ONLY = {"flask", "sqlalchemy", "boto3", "psycopg", "werkzeug", "alembic", "gunicorn"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _groups() -> tuple[list[str], list[str]]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return project["optional-dependencies"]["driver"], project["dependencies"]


def _with_requirements(names: set[str]) -> set[str]:
    """``names`` and everything they require, by installed metadata."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # an optional or other-platform requirement, so nothing loaded it here
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_name(requirement))
    return seen


def _distributions_loaded_by_the_app() -> set[str]:
    probe = (
        "import importlib, json, sys\n"
        "from importlib import metadata\n"
        f"for name in {APP_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "owners = metadata.packages_distributions()\n"
        "tops = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)\n"
        "print(json.dumps(sorted({d for t in tops for d in owners.get(t, ())})))\n"
    )
    kivy_home = VAR_DIR / "kivy-test"
    kivy_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1"}
    env["KIVY_HOME"] = str(kivy_home)
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    # setuptools' import hook is loaded by every venv's .pth file, not by the app.
    return {_name(d) for d in loaded} - {"doorstep", "setuptools"}


def test_the_driver_group_holds_every_library_the_app_loads() -> None:
    driver, _ = _groups()
    installed_with_the_group = _with_requirements({_name(r) for r in driver})
    assert _distributions_loaded_by_the_app() - installed_with_the_group == set()


def test_the_driver_group_holds_no_server_library() -> None:
    driver, _ = _groups()
    assert {_name(r) for r in driver} & SERVER_ONLY == set()


def test_the_driver_group_pins_every_library_and_agrees_with_the_server() -> None:
    driver, server = _groups()
    assert all("==" in r for r in driver), driver
    server_pins = {_name(r): r.split("==")[1] for r in server}
    for requirement in driver:
        name, version = _name(requirement), requirement.split("==")[1]
        assert server_pins.get(name, version) == version, f"{name}: one version on both sides"
