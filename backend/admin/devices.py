"""Drivers' devices: what each has done and still owes, and revoking a lost one.

Revoking ends every login the device holds at once: its refresh tokens are revoked,
so their families' access tokens are refused by the guard on the next request
(``backend.auth.guard``). The device may log in again with a password; what it
captured before the revocation is still accepted when it syncs (evidence is never
discarded), and the evidence bundle shows the revocation (``revoked_at``) beside the
events it recorded before and delivered after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.db.models import Device, DoorEventRow, EventEvidence, EvidenceFile, RefreshToken, User
from backend.db.session import begin_write
from backend.domain.clock import utc_text
from backend.domain.refusal import not_found


@dataclass(frozen=True)
class DeviceState:
    device: Device
    username: str | None
    # Files its events cite that have not arrived (or not verified) yet.
    files_owed: int


def device_dict(state: DeviceState) -> dict[str, Any]:
    device = state.device
    return {
        "id": device.id,
        "device_id": device.device_key,
        "driver": state.username,
        "first_seen_at": utc_text(device.first_seen_at),
        "last_seen_at": utc_text(device.last_seen_at),
        "last_sync_at": utc_text(device.last_sync_at),
        "app_version": device.app_version,
        "events_owed": device.pending_events,
        "files_owed": state.files_owed,
        "revoked_at": utc_text(device.revoked_at),
    }


def _files_owed(session: Session, device_keys: list[str]) -> dict[str, int]:
    if not device_keys:
        return {}
    rows = session.execute(
        select(DoorEventRow.device_key, func.count(func.distinct(EventEvidence.sha256)))
        .join(EventEvidence, EventEvidence.event_row_id == DoorEventRow.id)
        .outerjoin(EvidenceFile, EvidenceFile.sha256 == EventEvidence.sha256)
        .where(DoorEventRow.device_key.in_(device_keys), EvidenceFile.verified_at.is_(None))
        .group_by(DoorEventRow.device_key)
    )
    return {key: int(count) for key, count in rows}


def list_devices(session: Session) -> list[DeviceState]:
    """The tenant's devices, most recently seen first."""
    rows = session.execute(
        select(Device, User.username)
        .outerjoin(User, User.id == Device.user_id)
        .order_by(Device.last_seen_at.desc(), Device.id)
    ).all()
    owed = _files_owed(session, [device.device_key for device, _ in rows])
    return [DeviceState(d, name, owed.get(d.device_key, 0)) for d, name in rows]


def get_device(session: Session, device_id: int) -> DeviceState:
    device = session.get(Device, device_id)
    if device is None:
        raise not_found("device")
    username = session.scalar(select(User.username).where(User.id == device.user_id))
    owed = _files_owed(session, [device.device_key]).get(device.device_key, 0)
    return DeviceState(device, username, owed)


def revocations(session: Session, device_keys: Iterable[str]) -> dict[str, datetime]:
    """When each of ``device_keys`` was last revoked (those never revoked are absent)."""
    keys = sorted(set(device_keys))
    if not keys:
        return {}
    rows = session.execute(
        select(Device.device_key, Device.revoked_at).where(
            Device.device_key.in_(keys), Device.revoked_at.is_not(None)
        )
    )
    return {key: at for key, at in rows if at is not None}


def revoked_in_between(event: DoorEventRow, revoked: Mapping[str, datetime]) -> bool:
    """Whether the event's device was revoked after recording it and before the server
    received it: captured before the revocation, delivered after a fresh login. The
    one rule for the evidence bundle and the timeline."""
    at = revoked.get(event.device_key)
    return at is not None and event.recorded_at < at <= event.received_at


def revoke_device(
    session: Session, device_id: int, *, actor: str, actor_user_id: int | None
) -> DeviceState:
    """End every login of the device now (committed). Revoking again revokes any login
    made since, and moves ``revoked_at`` to now."""
    begin_write(session)
    state = get_device(session, device_id)
    device = state.device
    before = device_dict(state)
    now: datetime = clock.now()
    device.revoked_at = now
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.device_id == device.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    after = device_dict(state)
    audit.record(
        session,
        device.org_id,
        actor,
        actor_user_id,
        "device.revoke",
        "device",
        device.id,
        before={"device_id": before["device_id"], "revoked_at": before["revoked_at"]},
        after={"device_id": after["device_id"], "revoked_at": after["revoked_at"]},
    )
    session.commit()
    return state
