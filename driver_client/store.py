"""The device's offline store: one SQLite file that survives kills and power loss.

WAL journal with ``synchronous=FULL``: a transaction that returned is on disk. The
schema carries a version and only ever migrates forward; no migration drops a table
that can hold unsynced work (the outbox and the file queue).

What lives here: the stops as last pulled (``stops``), door events waiting for an
acknowledgement (``outbox``), evidence files and whether the server still needs them
(``files``), conflicts the server reported, and small settings (cursor, clock state,
device id, tokens) in ``meta``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from backend.domain.events import EventResultStatus

# Each entry migrates from version N to N+1; append, never edit or remove.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE stops (
        id INTEGER PRIMARY KEY,
        sequence INTEGER,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        removed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE outbox (
        event_id TEXT PRIMARY KEY,
        stop_id INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        result TEXT,
        result_code TEXT
    );
    CREATE INDEX outbox_pending ON outbox (result, created_at);
    CREATE TABLE files (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY,
        stop_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        event_ids TEXT NOT NULL
    );
    """,
)

# An outbox row waits until the server's answer names it with one of these.
ACKNOWLEDGED = frozenset(
    {EventResultStatus.APPLIED, EventResultStatus.CONFLICT, EventResultStatus.DUPLICATE}
)


class Store:
    """Thread-safe access to the offline database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable write: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, params))

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            version = self.schema_version
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in filter(str.strip, script.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def put(self, key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
        sql = (
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
        if db is not None:
            db.execute(sql, (key, json.dumps(value)))
            return
        with self.transaction() as tx:
            tx.execute(sql, (key, json.dumps(value)))

    # -- stops --------------------------------------------------------------------

    def stops(self) -> list[dict[str, Any]]:
        """The driver's day, in driving order: stops of the service date the server last
        named (stops planned for a later day wait until it is theirs)."""
        day = self.get("service_date")
        rows = self.query("SELECT data FROM stops WHERE removed = 0 ORDER BY sequence, id")
        stops = [json.loads(row["data"]) for row in rows]
        return [s for s in stops if day is None or s.get("service_date", day) == day]

    def stop(self, stop_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT data FROM stops WHERE id = ?", (stop_id,))
        return json.loads(rows[0]["data"]) if rows else None

    def upsert_stop(self, db: sqlite3.Connection, stop: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO stops(id, sequence, version, status, data, removed) VALUES (?,?,?,?,?,0) "
            "ON CONFLICT(id) DO UPDATE SET sequence=excluded.sequence, version=excluded.version,"
            " status=excluded.status, data=excluded.data, removed=0",
            (stop["id"], stop.get("sequence"), stop["version"], stop["status"], json.dumps(stop)),
        )

    def forget_stops(self, db: sqlite3.Connection) -> None:
        """Before a snapshot is applied: every stop not in it is no longer held."""
        db.execute("UPDATE stops SET removed = 1")

    def remove_stop(self, db: sqlite3.Connection, stop_id: int) -> None:
        # Kept (flagged) rather than deleted: events captured for it still need it.
        db.execute("UPDATE stops SET removed = 1 WHERE id = ?", (stop_id,))

    # -- outbox and files -----------------------------------------------------------

    def pending_events(self, limit: int = 500) -> list[dict[str, Any]]:
        # Rejected events stay for the driver to see but are not resent: the server
        # would answer the same.
        rows = self.query(
            "SELECT body FROM outbox WHERE result IS NULL ORDER BY created_at, event_id LIMIT ?",
            (limit,),
        )
        return [json.loads(row["body"]) for row in rows]

    def pending_count(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM outbox WHERE result IS NULL")[0]["n"])

    def rejected_events(self) -> list[sqlite3.Row]:
        return self.query(
            "SELECT * FROM outbox WHERE result = ? ORDER BY created_at",
            (EventResultStatus.REJECTED,),
        )

    def pending_files(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM files WHERE uploaded = 0 ORDER BY rowid")
