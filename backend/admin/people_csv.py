"""Reading a CSV file of people to add, with no database.

One account per row; the header names the columns (``username`` and ``role``
required, ``full_name``, ``phone`` and ``email`` optional). Rows are keyed by their
line in the file (the header is line 1), so every refusal can name the line to fix.
Passwords never travel in the file: each account gets a one-time password.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from backend.domain.refusal import Refusal

COLUMNS = frozenset({"username", "role", "full_name", "phone", "email"})
REQUIRED = frozenset({"username", "role"})
MAX_ROWS = 1000


def _file_refused(message: str) -> Refusal:
    return Refusal("import_invalid", message, field="file", errors={"file": [message]})


def parse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The file's rows as (line, fields); refuses a file that cannot be read as a whole."""
    try:
        return _parse(text)
    except csv.Error as exc:
        # A NUL byte, an over-long field, a quote left open: not a file we can read.
        raise _file_refused(f"not a readable CSV file: {exc}") from None


def _parse(text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise _file_refused("the CSV file is empty")
    names = [name.strip() for name in reader.fieldnames]
    unknown = sorted(set(names) - COLUMNS)
    if unknown:
        raise _file_refused(
            f"unknown column(s): {', '.join(unknown)}; use {', '.join(sorted(COLUMNS))}"
        )
    missing = sorted(REQUIRED - set(names))
    if missing:
        raise _file_refused(f"missing column(s): {', '.join(missing)}")
    rows: list[tuple[str, dict[str, Any]]] = []
    for raw in reader:
        line = str(reader.line_num)
        if None in raw:
            rows.append((line, {"_row": None, "__extra__": raw[None]}))
        else:
            rows.append((line, {k.strip(): (v or "").strip() for k, v in raw.items()}))
        if len(rows) > MAX_ROWS:
            raise _file_refused(f"at most {MAX_ROWS} people per file")
    if not rows:
        raise _file_refused("the file has a header but no rows")
    return rows
