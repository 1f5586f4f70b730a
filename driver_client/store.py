"""The device's offline store: one SQLite file that survives kills and power loss.

WAL journal with ``synchronous=FULL``: a transaction that returned is on disk. The
schema carries a version and only ever migrates forward; no migration drops a table
that can hold unsynced work (the outbox and the file queue).

What lives here: the stops as last pulled (``stops``), door events waiting for an
acknowledgement (``outbox``), evidence files and whether the server still needs them
(``files``), conflicts the server reported, and small settings (cursor, clock state,
device id, tokens) in ``meta``, and the last few position fixes of the shift waiting
to ride along with the next sync (``fixes``).

This is the only module of the client that speaks SQL: capture, sync and the screens
call the named methods below. A method that takes ``db`` writes inside the caller's
``transaction()``, so that several of them commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from backend.domain.events import EventResultStatus, EvidenceKind
from backend.domain.stops import StopStatus

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
    """
    CREATE TABLE fixes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        accuracy_m REAL,
        recorded_at TEXT NOT NULL
    );
    """,
    # The signed receipt the server returned for a delivery, kept to show at a dispute.
    """
    ALTER TABLE outbox ADD COLUMN receipt TEXT;
    """,
)

# A stop still to drive to; while the day has one, the shift is on.
OPEN_STATUSES = frozenset({StopStatus.PENDING, StopStatus.ARRIVED})

# An outbox row waits until the server's answer names it with one of these.
ACKNOWLEDGED = frozenset(
    {EventResultStatus.APPLIED, EventResultStatus.CONFLICT, EventResultStatus.DUPLICATE}
)


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file on the device, written and fsynced under its hash."""

    sha256: str
    path: Path
    kind: EvidenceKind
    content_type: str
    size: int


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

    def _write(self, db: sqlite3.Connection | None, sql: str, params: tuple[Any, ...]) -> None:
        """One statement inside the caller's transaction ``db``, or in one of its own."""
        if db is not None:
            db.execute(sql, params)
            return
        with self.transaction() as tx:
            tx.execute(sql, params)

    def put(self, key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
        self._write(
            db,
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def forget_login(self) -> None:
        """The server ended this login: drop its tokens, so a restart opens on the login
        screen. The device id, the outbox, its files and the day stay: after the next
        login the same device sends them."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM meta WHERE key IN (?, ?, ?)",
                ("access_token", "refresh_token", "must_change_password"),
            )

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

    def record_capture(
        self,
        event: dict[str, Any],
        files: Sequence[EvidenceFile],
        stop_as_shown: dict[str, Any] | None,
        clock_state: dict[str, Any],
    ) -> None:
        """Save one capture: the rows of the files it cites, its outbox row, the stop as
        the driver should now see it, and the device clock's state.

        One transaction, so a kill leaves all of them or none: an event never cites a
        file the device forgot, and the clock never runs behind an event it stamped.
        The files themselves must already be on disk.
        """
        with self.transaction() as db:
            for file in files:
                db.execute(
                    "INSERT INTO files(sha256, path, kind, content_type, size) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(sha256) DO NOTHING",
                    (file.sha256, str(file.path), file.kind, file.content_type, file.size),
                )
            db.execute(
                "INSERT INTO outbox(event_id, stop_id, body, created_at) VALUES (?,?,?,?)",
                (event["id"], event["stop_id"], _compact_json(event), event["recorded_at"]),
            )
            if stop_as_shown is not None:
                self.upsert_stop(db, stop_as_shown)
            self.put("hlc", clock_state, db)

    def record_result(
        self,
        db: sqlite3.Connection,
        event_id: str,
        status: str,
        code: str = "",
        receipt: dict[str, Any] | None = None,
    ) -> None:
        """The server's answer to one outboxed event; any answer ends its resending.

        ``status`` is kept as the server spelt it (an ``EventResultStatus`` when the
        server speaks this client's protocol version). A delivery's signed ``receipt``
        is kept for good; an answer without one (a ``duplicate``) never drops it.
        """
        db.execute(
            "UPDATE outbox SET result = ?, result_code = ?, receipt = COALESCE(?, receipt)"
            " WHERE event_id = ?",
            (status, code, json.dumps(receipt) if receipt else None, event_id),
        )

    def receipt(self, stop_id: int) -> dict[str, Any] | None:
        """The server's signed receipt for this device's latest sealed delivery of the
        stop, or None (not delivered from here, not synced yet, or its answer lost)."""
        rows = self.query(
            "SELECT receipt FROM outbox WHERE stop_id = ? AND receipt IS NOT NULL"
            " ORDER BY rowid DESC LIMIT 1",
            (stop_id,),
        )
        return cast(dict[str, Any], json.loads(rows[0]["receipt"])) if rows else None

    def stop_ids_waiting_to_sync(self) -> set[int]:
        """Stops with a capture the server has not answered yet."""
        rows = self.query("SELECT stop_id FROM outbox WHERE result IS NULL")
        return {int(row["stop_id"]) for row in rows}

    def captured_events(self) -> list[sqlite3.Row]:
        """Every event captured on this device, in capture order, with the server's
        answer (``result`` is NULL while it waits)."""
        return self.query(
            "SELECT event_id, stop_id, result, result_code FROM outbox ORDER BY rowid"
        )

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

    def file_path(self, sha256: str) -> Path | None:
        """Where the evidence file with this hash is kept; None if this device never had it."""
        rows = self.query("SELECT path FROM files WHERE sha256 = ?", (sha256,))
        return Path(rows[0]["path"]) if rows else None

    def known_file_paths(self) -> set[str]:
        """The paths of every file a committed capture cites."""
        return {row["path"] for row in self.query("SELECT path FROM files")}

    def is_cited_by_unsent_event(self, sha256: str) -> bool:
        """Whether an event still waiting in the outbox cites the file with this hash."""
        rows = self.query(
            "SELECT 1 FROM outbox WHERE result IS NULL AND instr(body, ?) > 0 LIMIT 1",
            (sha256,),
        )
        return bool(rows)

    def mark_uploaded(self, sha256: str, db: sqlite3.Connection | None = None) -> None:
        """The server holds the file's bytes, verified: it is never sent again."""
        self._write(db, "UPDATE files SET uploaded = 1 WHERE sha256 = ?", (sha256,))

    # -- conflicts ------------------------------------------------------------------

    def upsert_conflicts(
        self, db: sqlite3.Connection, conflicts: Sequence[Mapping[str, Any]]
    ) -> None:
        """Conflicts as the server last described them (one row per conflict id)."""
        for conflict in conflicts:
            db.execute(
                "INSERT INTO conflicts(id, stop_id, kind, detail, event_ids) "
                "VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET detail = excluded.detail,"
                " event_ids = excluded.event_ids",
                (
                    conflict["id"],
                    conflict["stop_id"],
                    conflict["kind"],
                    conflict["detail"],
                    ",".join(conflict["event_ids"]),
                ),
            )

    def conflicts(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM conflicts ORDER BY id")

    def oldest_waiting_capture_at(self) -> str | None:
        """When the oldest capture the server has not answered yet was recorded (the
        device's own time, ISO), for the day view; None when nothing waits."""
        rows = self.query("SELECT min(created_at) AS oldest FROM outbox WHERE result IS NULL")
        oldest: str | None = rows[0]["oldest"]
        return oldest

    # -- position fixes ---------------------------------------------------------------

    def keep_fix(self, fix: Mapping[str, Any], keep: int) -> None:
        """Keep a fix for the next sync, and only the newest ``keep`` of them."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO fixes (lat, lon, accuracy_m, recorded_at) VALUES (?, ?, ?, ?)",
                (fix["lat"], fix["lon"], fix.get("accuracy_m"), fix["recorded_at"]),
            )
            db.execute(
                "DELETE FROM fixes WHERE id NOT IN (SELECT id FROM fixes ORDER BY id DESC LIMIT ?)",
                (keep,),
            )

    def last_fix_time(self) -> str | None:
        row = self.query("SELECT recorded_at FROM fixes ORDER BY id DESC LIMIT 1")
        return str(row[0]["recorded_at"]) if row else None

    def fixes_to_send(self) -> list[tuple[int, dict[str, Any]]]:
        """The kept fixes, oldest first, each with the id that forgets it once sent."""
        return [
            (
                int(row["id"]),
                {
                    "lat": row["lat"],
                    "lon": row["lon"],
                    "accuracy_m": row["accuracy_m"],
                    "recorded_at": row["recorded_at"],
                },
            )
            for row in self.query("SELECT * FROM fixes ORDER BY id")
        ]

    def forget_fixes(self, db: sqlite3.Connection, fix_ids: Sequence[int]) -> None:
        db.executemany("DELETE FROM fixes WHERE id = ?", [(fix_id,) for fix_id in fix_ids])

    def has_open_stops(self) -> bool:
        """Whether the day's plan still has a stop to drive to (the shift is on)."""
        return any(stop["status"] in OPEN_STATUSES for stop in self.stops())


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
