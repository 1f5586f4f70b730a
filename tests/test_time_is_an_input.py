"""Time is an input: only the clock module reads the machine's clock.

A test that pins a service date is safe only if the server compares it with the
clock the test handed it (tests/conftest.py's ``clock``), never with the calendar on
the wall; that is how six tests broke when the real date passed 2026-11-26. These
checks keep that from coming back: production code reads "now" from a Clock, and test
code takes it from the ``clock`` fixture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backend.config import PROJECT_ROOT

# Calls that read the machine's clock, as (object, attribute) written in the source.
WALL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}
# The one place allowed to read it.
CLOCK_MODULE = Path("backend/domain/clock.py")
# Test code that really means the machine's date: a process we do not give a clock.
TEST_EXCEPTIONS = {
    # Formats "now" only to show canonical JSON refuses it; nothing compares it.
    Path("tests/domain/test_digest.py"),
}


def _wall_clock_reads(path: Path) -> list[str]:
    """``path`` relative to the project (or absolute)."""
    tree = ast.parse((PROJECT_ROOT / path).read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if (name, node.func.attr) in WALL_CLOCK_READS:
            found.append(f"{path}:{node.lineno}: {name}.{node.func.attr}()")
    return found


def _python_files(*folders: str) -> list[Path]:
    return sorted(
        path.relative_to(PROJECT_ROOT)
        for folder in folders
        for path in (PROJECT_ROOT / folder).rglob("*.py")
    )


@pytest.mark.parametrize("folder", ["backend", "demo", "driver_client"])
def test_only_the_clock_module_reads_the_machines_clock(folder: str) -> None:
    reads = [
        read
        for path in _python_files(folder)
        if path != CLOCK_MODULE
        for read in _wall_clock_reads(path)
    ]
    assert reads == [], "take now from backend.clock / a Clock passed in:\n" + "\n".join(reads)


def test_tests_take_now_from_the_clock_fixture() -> None:
    reads = [
        read
        for path in _python_files("tests")
        if path not in TEST_EXCEPTIONS
        for read in _wall_clock_reads(path)
    ]
    assert reads == [], "use the clock fixture (tests/conftest.py):\n" + "\n".join(reads)


def test_the_check_finds_every_way_of_reading_the_wall_clock(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime as dt, time\n"
        "from datetime import date, datetime\n"
        "a = datetime.now(UTC)\n"
        "b = dt.datetime.utcnow()\n"
        "c = date.today()\n"
        "d = time.time()\n"
        "e = time.monotonic()\n"  # durations are not dates: allowed
    )
    assert [read.split(": ")[1] for read in _wall_clock_reads(sample)] == [
        "datetime.now()",
        "datetime.utcnow()",
        "date.today()",
        "time.time()",
    ]
