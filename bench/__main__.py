"""`python -m bench [section ...]`: run the benchmark sections and print one report.

Sections register in SECTIONS; name some on the command line to run only those. The
report never fails the build over a number below target (machines differ), but a run
that could not measure at all (the server did not start, the API answered errors)
exits non-zero.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import api, backoffice, barcodes, client, eta, shift, sync, tracking
from bench.common import Row


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    run: Callable[[], list[Row]]


SECTIONS = (
    Section("api", "API throughput (gunicorn, 2 workers; SQLite, then PostgreSQL)", api.run),
    Section("sync", "Sync ingest (in-process, SQLite)", sync.run),
    Section("client", "Driver client", client.run),
    Section(
        "shift",
        "End of shift: every driver syncs at once (gunicorn, production recipe, PostgreSQL)",
        shift.run,
    ),
    Section("backoffice", "Back office (in-process, SQLite, a simulated day)", backoffice.run),
    Section(
        "tracking",
        "Tracking pages: 500 recipients polling while a driver syncs (gunicorn, SQLite)",
        tracking.run,
    ),
    Section("eta", "ETA accuracy (in-process, SQLite, the demo's day in simulated time)", eta.run),
    Section(
        "barcodes", "Barcode decode per camera frame (zbar via pyzbar, in-process)", barcodes.run
    ),
)


def main(names: list[str]) -> int:
    unknown = set(names) - {section.name for section in SECTIONS}
    if unknown:
        known = ", ".join(section.name for section in SECTIONS)
        print(f"bench: unknown section(s) {', '.join(sorted(unknown))}; known: {known}")
        return 2
    for section in SECTIONS:
        if names and section.name not in names:
            continue
        started = time.monotonic()
        print(f"\n{section.title}", flush=True)
        for row in section.run():
            print(row.render(), flush=True)
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
