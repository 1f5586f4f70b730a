"""`make demo` runs a whole day and finds nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver_client import demo


def test_a_simulated_day_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "ROUNDS", 3)
    assert demo.run_day(tmp_path) == 0
    out = capsys.readouterr().out
    assert "OK: every captured event is on the server" in out
    for n in range(1, 6):
        assert f"driver{n}" in out
