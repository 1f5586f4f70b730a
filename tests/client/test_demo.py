"""`make demo` runs a whole day, finds nothing lost, and leaves a realistic day behind."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo import day as demo_day


@dataclass(frozen=True)
class Day:
    folder: Path
    exit_code: int
    output: str


@pytest.fixture(scope="module")
def short_day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    # One simulated day shared by the tests below: it takes several seconds to run.
    folder = tmp_path_factory.mktemp("demo")
    output = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
        patch.setattr(demo_day, "ROUNDS", 3)
        code = demo_day.run_day(folder)
    return Day(folder, code, output.getvalue())


def test_a_simulated_day_loses_nothing(short_day: Day) -> None:
    assert short_day.exit_code == 0, short_day.output
    assert "OK: every captured event is on the server" in short_day.output
    for n in range(1, 6):
        assert f"driver{n}" in short_day.output
    assert "Back office" in short_day.output
    assert "exception queue:" in short_day.output


def test_deliveries_are_geo_stamped_at_their_own_stop(short_day: Day) -> None:
    # Stamping every capture at one fixed point would put nearly every delivery
    # outside its geofence and flood the console's exception queue.
    with contextlib.closing(sqlite3.connect(demo_day.database_path(short_day.folder))) as db:
        rows = db.execute("SELECT geo_check FROM proof").fetchall()
    outcomes = Counter(json.loads(geo_check)["outcome"] for (geo_check,) in rows)
    assert sum(outcomes.values()) >= 20, outcomes
    assert outcomes["inside"] >= 0.8 * sum(outcomes.values()), outcomes


def test_the_day_leaves_proofs_support_can_dispute(short_day: Day) -> None:
    # Support's part of the acceptance test needs a delivered stop with a signature,
    # a photo and every file verified.
    disputable = [line for line in short_day.output.splitlines() if "have a complete proof" in line]
    assert disputable, short_day.output
    assert int(disputable[0].split()[0]) >= 3


def test_reset_refuses_a_folder_the_demo_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "doorstep.db").write_text("make run's database")
    with pytest.raises(SystemExit, match="not deleting"):
        demo_day.reset_folder(tmp_path)
    assert (tmp_path / "doorstep.db").exists()
