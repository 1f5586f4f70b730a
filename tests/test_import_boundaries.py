"""The pure core loads without the server's libraries, and the contracts stay complete.

`make lint` runs the import contracts in pyproject.toml (import-linter), which follow
import statements. Importing a module also runs the ``__init__`` of every package above
it, which those contracts do not see: ``backend/__init__.py`` once imported Flask, so
the driver client loaded Flask just by importing ``backend.domain``. These tests import
the way the phone does, in a fresh interpreter, and look at what was loaded.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import tomllib

import backend
import backend.domain
from backend.config import PROJECT_ROOT

SERVER_LIBRARIES = ("flask", "sqlalchemy", "boto3", "psycopg")
PHONE_CORE = ("driver_client.store", "driver_client.sync")


def _loaded_after_importing(modules: list[str]) -> list[str]:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {SERVER_LIBRARIES!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def _domain_modules() -> list[str]:
    return sorted(
        f"backend.domain.{module.name}" for module in pkgutil.iter_modules(backend.domain.__path__)
    )


def test_the_driver_clients_core_and_the_domain_load_no_server_library() -> None:
    modules = [*PHONE_CORE, "backend.domain", *_domain_modules()]
    assert _loaded_after_importing(modules) == []


def _contract(contract_id: str) -> dict[str, list[str]]:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == contract_id]
    return contract


def test_the_import_contracts_name_every_backend_module_but_the_domain() -> None:
    others = {
        f"backend.{module.name}"
        for module in pkgutil.iter_modules(backend.__path__)
        if module.name != "domain"
    }
    for contract_id in ("pure-domain", "driver-client-core"):
        forbidden = set(_contract(contract_id)["forbidden_modules"])
        assert others - forbidden == set(), f"add them to {contract_id} in pyproject.toml"
        assert {m for m in forbidden if m.startswith("backend.")} <= others, (
            f"{contract_id} names backend modules that no longer exist"
        )
