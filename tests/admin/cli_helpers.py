"""Running the operator's ``doorstep`` commands from a test, against the test database."""

from __future__ import annotations

import io

import pytest

from backend.cli import main


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    """``doorstep argv...``: its exit status, standard output and standard error."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err
