"""Transactions on SQLite: writers take the lock at BEGIN, readers never do."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, text

from backend.db.session import Database, ReadBeforeWrite, begin_write


def _statements(database: Database) -> list[str]:
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_declared_write_begins_immediate_and_a_read_stays_deferred(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'lock.db'}")
    seen = _statements(database)
    with database.session() as writer:
        begin_write(writer)
        writer.execute(text("SELECT 1"))
        writer.commit()
    with database.session() as reader:
        reader.execute(text("SELECT 1"))
        reader.commit()
    assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 1"]
    database.dispose()


def test_declaring_a_write_after_a_read_is_refused_not_silently_deferred(
    tmp_path: Path,
) -> None:
    # The read began a deferred transaction that can no longer take the write lock; a
    # concurrent writer would make it fail with "database is locked" (503) at random.
    database = Database(f"sqlite:///{tmp_path / 'order.db'}")
    with database.session() as session:
        session.execute(text("SELECT 1"))
        with pytest.raises(ReadBeforeWrite):
            begin_write(session)
    with database.session() as session:
        begin_write(session)
        session.execute(text("SELECT 1"))
        begin_write(session)  # already writing: nothing to do
        session.commit()
    database.dispose()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    database.dispose()
