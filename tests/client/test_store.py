"""The device store: durable settings, forward-only migrations that keep unsynced work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from driver_client import store as store_module
from driver_client.store import Store


def test_the_store_runs_in_wal_with_full_synchronous_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "device.db")
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA synchronous")[0][0] == 2
    assert store.schema_version == len(store_module.MIGRATIONS)
    store.close()


def test_a_new_migration_keeps_the_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "device.db")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO outbox(event_id, stop_id, body, created_at) VALUES ('e1', 1, '{}', 't')"
        )
    store.close()
    monkeypatch.setattr(
        store_module,
        "MIGRATIONS",
        (*store_module.MIGRATIONS, "ALTER TABLE outbox ADD COLUMN attempts INTEGER DEFAULT 0"),
    )
    upgraded = Store(tmp_path / "device.db")
    assert upgraded.schema_version == len(store_module.MIGRATIONS)
    [row] = upgraded.query("SELECT event_id, attempts FROM outbox")
    assert (row["event_id"], row["attempts"]) == ("e1", 0)
    upgraded.close()


def _insert_twice(store: Store) -> None:
    insert = "INSERT INTO outbox(event_id, stop_id, body, created_at) VALUES ('e', 1, '', '')"
    with store.transaction() as db:
        db.execute(insert)
        db.execute(insert)


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "device.db")
    with pytest.raises(sqlite3.IntegrityError):
        _insert_twice(store)
    assert store.query("SELECT count(*) FROM outbox")[0][0] == 0
    store.close()
