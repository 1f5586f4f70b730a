"""The sync engine: push the outbox, pull the plan, upload owed files.

One request per sync when no files are owed: events go up and plan changes come down
together (docs/sync-protocol.md). An event leaves the outbox only when a response
names it as applied, conflict or duplicate; a lost response just means the same batch
is sent again, which the server answers with ``duplicate``. Files are uploaded after
the sync, on their own lower-priority pass, and a failed upload is retried at the
next one.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from backend.domain.clock import system_now
from backend.domain.events import ChangeOp
from driver_client import APP_VERSION
from driver_client.capture import LocationProvider
from driver_client.fixes import take_shift_fix
from driver_client.i18n import _
from driver_client.store import ACKNOWLEDGED, Store
from driver_client.transport import Offline, ServerRefused, Transport

MAX_BATCH = 500
# The server lists at most this many owed files per response (see docs/sync-protocol.md).
UPLOADS_PAGE = 200
# Local uploads go up in pieces this big. A proxy that reads each body whole before
# passing it on (nginx, deploy/nginx-doorstep.conf) drops the bytes of a body that was
# cut short, so a dropped connection costs at most one piece: 13 s at 20 KB/s.
UPLOAD_CHUNK = 256 * 1024


@dataclass
class SyncReport:
    sent: int = 0
    acknowledged: int = 0
    rejected: int = 0
    changes: int = 0
    uploaded: int = 0
    upload_failures: int = 0
    requests: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)


class SyncEngine:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        device_id: str,
        now: Callable[[], datetime] = system_now,
        location: LocationProvider | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.device_id = device_id
        self.now = now
        self.location = location
        self._owed: list[dict[str, Any]] = []
        # The fixes the request in flight carries: forgotten when it is answered.
        self._fixes_sent: list[int] = []

    def sync(self) -> SyncReport:
        """Push everything pending and pull until the feed is drained, then upload."""
        report = SyncReport()
        take_shift_fix(self.store, self.location)
        while True:
            events = self.store.pending_events(MAX_BATCH)
            body = self._round_trip(events, report)
            new_day = self._apply(body, report)
            more_events = self.store.pending_count() > 0 and len(events) == MAX_BATCH
            if not body["has_more"] and not more_events and not new_day:
                break
        self._upload(report)
        self.store.put("last_sync", self.now().isoformat())
        return report

    def _round_trip(self, events: list[dict[str, Any]], report: SyncReport) -> dict[str, Any]:
        request = {
            "device_id": self.device_id,
            "cursor": self.store.get("cursor"),
            "sent_at": self.now().isoformat(),
            "events": events,
            # Everything waiting is in this request: the server may then hold anything
            # recorded earlier that arrives later as backdated (docs/sync-protocol.md).
            "outbox_drained": len(events) == self.store.pending_count(),
            # What the device still owes once this batch is in: shown to admins.
            "pending_events": self.store.pending_count() - len(events),
            "app_version": APP_VERSION,
        }
        fixes = self.store.fixes_to_send()
        self._fixes_sent = [fix_id for fix_id, _ in fixes]
        if fixes:
            request["positions"] = [fix for _, fix in fixes]
        report.requests += 1
        report.sent += len(events)
        reply = self.transport.post_json("/api/v1/sync", request)
        if reply.status != 200:
            body = reply.body or {}
            raise ServerRefused(reply.status, body.get("code", "error"), body.get("message", ""))
        result: dict[str, Any] = reply.body
        return result

    def _apply(self, body: dict[str, Any], report: SyncReport) -> bool:
        """Store the server's answer; True when the server's day is a new one, so the
        next round trip must start that day with a snapshot."""
        snapshot = bool(body.get("snapshot"))
        day = body.get("service_date")
        new_day = day is not None and not snapshot and day != self.store.get("service_date")
        with self.store.transaction() as db:
            for result in body["results"]:
                if result.get("id") is None:
                    continue
                self.store.record_result(
                    db,
                    result["id"],
                    result["status"],
                    result.get("code", ""),
                    result.get("receipt"),
                )
                if result["status"] in ACKNOWLEDGED:
                    report.acknowledged += 1
                else:
                    report.rejected += 1
            if snapshot:
                self.store.forget_stops(db)
            for change in body["changes"]:
                if change["op"] == ChangeOp.UPSERT:
                    self.store.upsert_stop(db, change["stop"])
                else:
                    self.store.remove_stop(db, change["stop_id"])
            report.changes += len(body["changes"])
            self.store.upsert_conflicts(db, body["conflicts"])
            self.store.forget_fixes(db, self._fixes_sent)
            report.conflicts.extend(body["conflicts"])
            # The cursor moves only with the changes it covers, in the same transaction;
            # a new day drops it, so the next request pulls that day's snapshot.
            if day is not None:
                self.store.put("service_date", day, db)
            if body.get("time_zone"):
                self.store.put("time_zone", body["time_zone"], db)
            self.store.put("cursor", None if new_day else body["cursor"], db)
            if len(body["uploads"]) < UPLOADS_PAGE:
                self._settle_files_the_server_has(db, {u["sha256"] for u in body["uploads"]})
        self._owed = body["uploads"]
        return new_day

    def _settle_files_the_server_has(self, db: sqlite3.Connection, owed: set[str]) -> None:
        """Files no longer owed, for acknowledged events, are on the server.

        The server never asks twice for bytes it holds, even when another device sent
        them; without this such a file would look pending here forever.
        """
        for row in self.store.pending_files():
            sha = row["sha256"]
            if sha not in owed and not self.store.is_cited_by_unsent_event(sha):
                self.store.mark_uploaded(sha, db)

    def _upload(self, report: SyncReport) -> None:
        for target in self._owed:
            path = self.store.file_path(target["sha256"])
            if path is None:
                continue  # owed by another device of this driver
            try:
                ok = self._send_file(target, path)
            except Offline:
                report.upload_failures += 1
                break
            if ok:
                self.store.mark_uploaded(target["sha256"])
                report.uploaded += 1
            else:
                report.upload_failures += 1
        self._owed = []

    def _send_file(self, target: dict[str, Any], path: Path) -> bool:
        if target["method"] == "PUT":
            return self._put_rest(target, path)
        # S3's presigned POST is all or nothing: a broken one is sent again whole.
        body, content_type = _multipart(target["fields"], path.read_bytes(), target["content_type"])
        reply = self.transport.send("POST", target["url"], body, {"Content-Type": content_type})
        if reply.status not in (200, 201, 204):
            return False
        return self.transport.call("POST", target["complete_url"]).status == 200

    def _put_rest(self, target: dict[str, Any], path: Path) -> bool:
        """PUT the bytes of ``path`` the server does not hold yet, a chunk per request:
        all of them, or the rest of an upload a dropped connection broke off
        (docs/sync-protocol.md, "Resuming a broken upload")."""
        size: int = target["size"]
        state = self.transport.call("GET", f"{target['url']}/upload")
        if state.status != 200:
            return False
        if state.body["verified"]:
            return True  # an earlier upload arrived; only its answer was lost
        offset: int = state.body["offset"]
        with path.open("rb") as file:
            file.seek(offset)
            while True:
                chunk = file.read(UPLOAD_CHUNK)
                headers = {"Content-Type": target["content_type"]}
                if offset > 0 or len(chunk) < size:
                    end = offset + len(chunk) - 1
                    headers["Content-Range"] = f"bytes {offset}-{end}/{size}"
                reply = self.transport.call("PUT", target["url"], chunk, headers)
                if reply.status != 202:
                    return reply.status == 200
                offset = reply.body["offset"]
                file.seek(offset)


def _multipart(fields: dict[str, str], data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="evidence"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class BackgroundSync:
    """Syncs on a timer, when nudged (a capture, the "Sync now" button), and as soon as
    the server can be reached again.

    When the server ends the login (a password reset or a revoked device mid-shift), it
    forgets the tokens, sets ``login_ended`` and stops: retrying cannot help. The outbox
    is untouched; a new ``BackgroundSync`` after the next login sends it.

    Failures back off exponentially with full jitter (1 s doubling to 5 minutes), so a
    fleet of devices coming back online at once does not stampede the server. While
    backing off it probes the server's cheap health check every ``probe_every_s``, and
    syncs the moment it answers: a driver walking out of a basement does not wait for
    the backoff to run out.
    """

    def __init__(
        self, engine: SyncEngine, interval_s: float = 60.0, probe_every_s: float = 5.0
    ) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.probe_every_s = probe_every_s
        self.failures = 0
        self.last_error: str | None = None
        self.login_ended = False
        self.last_report: SyncReport | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def next_delay(self) -> float:
        if self.failures == 0:
            return self.interval_s
        ceiling = min(300.0, 2.0 ** min(self.failures, 9))
        return random.uniform(0, ceiling)

    def run_once(self) -> None:
        try:
            self.last_report = self.engine.sync()
            self.failures = 0
            self.last_error = None
        except Offline:
            self.failures += 1
            self.last_error = _("No connection to the server.")
        except ServerRefused as exc:
            self.failures += 1
            if exc.login_ended:
                self.engine.store.forget_login()
                self.login_ended = True
                self.last_error = _(
                    "Your login has ended (a new password or a revoked phone). "
                    "Log in again: nothing waiting to sync is lost."
                )
            else:
                self.last_error = _("The server refused the sync: {reason}").format(
                    reason=exc.message or exc.code
                )

    def _run(self) -> None:
        while not self._stop.is_set() and not self.login_ended:
            self.run_once()
            self._wait(self.next_delay())

    def _wait(self, delay: float) -> None:
        """Sleep ``delay``, but wake on a nudge or, while failing, when the server is back."""
        deadline = time.monotonic() + delay
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, self.probe_every_s) if self.failures else remaining
            if self._wake.wait(step):
                self._wake.clear()
                return
            if self.failures and self.engine.transport.reachable():
                return
