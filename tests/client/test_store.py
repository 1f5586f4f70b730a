"""The device store: durable settings, forward-only migrations that keep unsynced work,
and the named reads and writes the rest of the client uses instead of SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.domain.events import EventResultStatus, EvidenceKind
from driver_client import store as store_module
from driver_client.store import ACKNOWLEDGED, EvidenceFile, Store


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


# -- the named methods capture, sync and the screens call --------------------------

STOP = {"id": 7, "sequence": 1, "version": 3, "status": "pending", "address": "1 Pike St"}
SIGNATURE_FILE = EvidenceFile(
    "ab" * 32, Path("/phone/evidence/sig.png"), EvidenceKind.SIGNATURE, "image/png", 9
)


def _event(event_id: str = "0b9a4f3e-0000-4000-8000-000000000001") -> dict[str, Any]:
    return {
        "id": event_id,
        "stop_id": STOP["id"],
        "type": "delivered",
        "recorded_at": "2026-11-24T10:00:00+00:00",
        "hlc": "0001764000000000:0000:device-1",
        "base_version": STOP["version"],
        "payload": {"recipient_name": "Dana"},
        "evidence": [{"sha256": SIGNATURE_FILE.sha256, "kind": "signature"}],
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "device.db")
    with opened.transaction() as db:
        opened.upsert_stop(db, STOP)
    yield opened
    opened.close()


def test_a_recorded_capture_reads_back_as_waiting_to_sync(store: Store) -> None:
    event = _event()
    shown = {**STOP, "status": "delivered"}
    store.record_capture(event, [SIGNATURE_FILE], shown, {"wall_ms": 5, "counter": 1})

    assert store.pending_events() == [event]
    assert store.pending_count() == 1
    assert store.stop_ids_waiting_to_sync() == {STOP["id"]}
    assert store.stop(STOP["id"]) == shown
    assert store.get("hlc") == {"wall_ms": 5, "counter": 1}
    assert store.file_path(SIGNATURE_FILE.sha256) == SIGNATURE_FILE.path
    assert store.known_file_paths() == {str(SIGNATURE_FILE.path)}
    [file] = store.pending_files()
    assert (file["kind"], file["content_type"], file["size"]) == ("signature", "image/png", 9)
    assert store.is_cited_by_unsent_event(SIGNATURE_FILE.sha256)
    [row] = store.captured_events()
    assert (row["event_id"], row["stop_id"], row["result"]) == (event["id"], STOP["id"], None)


def test_a_capture_without_a_status_change_leaves_the_stop_as_it_was(store: Store) -> None:
    store.record_capture(_event(), [], None, {"wall_ms": 5, "counter": 1})
    assert store.stop(STOP["id"]) == STOP
    assert store.file_path(SIGNATURE_FILE.sha256) is None


def test_a_capture_that_fails_at_its_last_write_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash tests kill the app exactly here (writing the clock state): the outbox
    row, the file rows and the stop's shown status must go with it."""

    def disk_full(key: str, value: object, db: object = None) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "put", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        store.record_capture(
            _event(), [SIGNATURE_FILE], {**STOP, "status": "delivered"}, {"wall_ms": 5}
        )
    monkeypatch.undo()
    assert store.captured_events() == []
    assert store.pending_files() == []
    assert store.stop(STOP["id"]) == STOP
    assert store.get("hlc") is None


def test_the_same_event_is_never_recorded_twice(store: Store) -> None:
    store.record_capture(_event(), [SIGNATURE_FILE], None, {"wall_ms": 5})
    with pytest.raises(sqlite3.IntegrityError):
        store.record_capture(_event(), [], None, {"wall_ms": 6})
    assert store.pending_count() == 1
    assert store.get("hlc") == {"wall_ms": 5}


@pytest.mark.parametrize("status", list(EventResultStatus))
def test_any_answer_from_the_server_ends_an_events_resending(
    store: Store, status: EventResultStatus
) -> None:
    event = _event()
    store.record_capture(event, [SIGNATURE_FILE], None, {"wall_ms": 5})
    with store.transaction() as db:
        store.record_result(db, event["id"], status, "some_code")

    assert store.pending_events() == []
    assert store.stop_ids_waiting_to_sync() == set()
    assert not store.is_cited_by_unsent_event(SIGNATURE_FILE.sha256)
    [row] = store.captured_events()
    assert (row["result"], row["result_code"]) == (status, "some_code")
    rejected = [r["event_id"] for r in store.rejected_events()]
    assert rejected == ([event["id"]] if status == EventResultStatus.REJECTED else [])
    assert (status in ACKNOWLEDGED) == (status != EventResultStatus.REJECTED)


def _apply_an_answer_then_fail(store: Store, event_id: str) -> None:
    with store.transaction() as db:
        store.record_result(db, event_id, EventResultStatus.APPLIED)
        store.upsert_conflicts(db, [_conflict("first")])
        store.mark_uploaded(SIGNATURE_FILE.sha256, db)
        raise RuntimeError("killed before the cursor moved")


def test_an_answer_applied_in_a_transaction_that_fails_is_not_kept(store: Store) -> None:
    """The sync applies a whole answer in one transaction with these methods: a
    failure part-way must leave the event waiting and its file owed, to be resent."""
    event = _event()
    store.record_capture(event, [SIGNATURE_FILE], None, {"wall_ms": 5})
    with pytest.raises(RuntimeError):
        _apply_an_answer_then_fail(store, event["id"])
    assert store.pending_count() == 1
    assert store.conflicts() == []
    assert [row["sha256"] for row in store.pending_files()] == [SIGNATURE_FILE.sha256]


def _conflict(detail: str, event_ids: tuple[str, ...] = ("e1",)) -> dict[str, Any]:
    return {
        "id": 41,
        "stop_id": STOP["id"],
        "kind": "delivered_after_cancel",
        "detail": detail,
        "event_ids": list(event_ids),
        "status": "open",
    }


def test_a_conflict_reported_again_is_updated_not_duplicated(store: Store) -> None:
    with store.transaction() as db:
        store.upsert_conflicts(db, [_conflict("first")])
    with store.transaction() as db:
        store.upsert_conflicts(db, [_conflict("second", ("e1", "e2"))])
    [row] = store.conflicts()
    assert (row["id"], row["stop_id"], row["kind"]) == (41, STOP["id"], "delivered_after_cancel")
    assert (row["detail"], row["event_ids"]) == ("second", "e1,e2")


def test_a_file_marked_uploaded_is_no_longer_owed(store: Store) -> None:
    photo = EvidenceFile(
        "cd" * 32, Path("/phone/evidence/door.jpg"), EvidenceKind.PHOTO, "image/jpeg", 99
    )
    store.record_capture(_event(), [SIGNATURE_FILE, photo], None, {"wall_ms": 5})
    store.mark_uploaded(SIGNATURE_FILE.sha256)
    with store.transaction() as db:
        store.mark_uploaded(photo.sha256, db)
    assert store.pending_files() == []
    assert store.file_path(photo.sha256) == photo.path  # still known, only settled


def test_captured_events_keep_the_order_they_were_captured_in(store: Store) -> None:
    ids = [f"0b9a4f3e-0000-4000-8000-00000000000{n}" for n in (3, 1, 2)]
    for event_id in ids:
        store.record_capture(_event(event_id), [], None, {"wall_ms": 5})
    assert [row["event_id"] for row in store.captured_events()] == ids
