"""The audit log as people read it: entries as dictionaries, and as a CSV file.

``before`` and ``after`` go into the CSV as compact JSON, so a spreadsheet shows them
in one cell each and a script can still parse them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from backend.db.models import AuditEntry
from backend.domain.clock import utc_text

CSV_COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_user_id",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
)


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": utc_text(entry.at),
        "actor": entry.actor,
        "actor_user_id": entry.actor_user_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
    }


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if value is None:
        return ""
    text = str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection).
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def to_csv(entries: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry_dict(entry)
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()
