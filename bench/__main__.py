"""Run every benchmark section and print one table."""

from __future__ import annotations

import sys
import time

from bench import api, client, sync

SECTIONS = (
    ("API throughput (gunicorn, 2 workers, wrk, SQLite)", api.run),
    ("Sync ingest (in-process, SQLite)", sync.run),
    ("Driver client", client.run),
)


def main(names: list[str]) -> int:
    for title, run in SECTIONS:
        if names and not any(name in run.__module__ for name in names):
            continue
        started = time.monotonic()
        print(f"\n{title}", flush=True)
        for row in run():
            print(row.render(), flush=True)
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
