"""What ships is the server and the driver app: neither imports the checkout's own
packages (the demo, the benchmarks, the tools, the tests), and none of those ships."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from backend.config import PROJECT_ROOT

SHIPPED = ("backend", "driver_client")
CHECKOUT_ONLY = ("demo", "bench", "tools", "tests")


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", SHIPPED)
def test_a_shipped_package_imports_nothing_that_stays_in_the_checkout(package: str) -> None:
    offending = [
        f"{path.relative_to(PROJECT_ROOT)} imports {sorted(roots)}"
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        if (roots := _imported_roots(path) & set(CHECKOUT_ONLY))
    ]
    assert not offending


def test_the_distribution_holds_only_the_shipped_packages() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(where=str(PROJECT_ROOT), include=include)
    assert {name.split(".")[0] for name in packages} == set(SHIPPED)
