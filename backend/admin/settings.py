"""An organization's settings: the one reader, and the one way to change them.

Contract: every part of the server that needs a setting (the organization's time
zone, the geofence threshold, the default proof policy ...) calls
:func:`org_settings`, which reads the organization's row on each call; nothing caches
it, so a change takes effect on the next request of every process, without a restart.
:func:`change_settings` validates the whole change first (``backend.domain.org_settings``),
then writes the new current settings, a new :class:`OrgSettingsVersion` row (who,
when, the whole settings) and an audit entry, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.db.models import Organization, OrgSettingsVersion
from backend.db.session import begin_write
from backend.domain.org_settings import OrgSettings, validated
from backend.domain.refusal import not_found

# Kept in the organization's own columns (other code and older rows read them there);
# every other setting lives in its ``settings`` JSON.
COLUMN_SETTINGS = ("timezone", "geofence_threshold_m")


def _from_row(org: Organization) -> OrgSettings:
    stored = dict(org.settings or {})
    stored["timezone"] = org.timezone or "UTC"
    stored["geofence_threshold_m"] = org.geofence_threshold_m
    return OrgSettings.from_stored(stored, org.settings_version or 0)


def org_settings(session: Session, org_id: int) -> OrgSettings:
    """The organization's current settings (one primary-key read, never cached)."""
    row = session.execute(
        select(
            Organization.timezone,
            Organization.geofence_threshold_m,
            Organization.settings,
            Organization.settings_version,
        ).where(Organization.id == org_id)
    ).one_or_none()
    if row is None:
        raise not_found("organization")
    stored = dict(row.settings or {})
    stored["timezone"] = row.timezone or "UTC"
    if row.geofence_threshold_m is not None:
        stored["geofence_threshold_m"] = row.geofence_threshold_m
    return OrgSettings.from_stored(stored, row.settings_version or 0)


def change_settings(
    session: Session,
    org_id: int,
    *,
    actor: str,
    actor_user_id: int | None,
    changes: Mapping[str, Any],
) -> OrgSettings:
    """Apply ``changes`` as the next version (committed), or refuse with field errors."""
    begin_write(session)
    org = session.get(Organization, org_id, with_for_update=True)
    if org is None:
        raise not_found("organization")
    before = _from_row(org)
    after = validated(before, changes)
    whole = after.editable_dict()
    changed = {k for k, v in whole.items() if before.editable_dict()[k] != v}
    if not changed:
        # Nothing differs: no new version, no audit entry.
        session.rollback()
        return before
    version = before.version + 1
    org.timezone = after.timezone
    org.geofence_threshold_m = after.geofence_threshold_m
    org.settings = {k: v for k, v in whole.items() if k not in COLUMN_SETTINGS}
    org.settings_version = version
    session.add(
        OrgSettingsVersion(
            org_id=org_id,
            version=version,
            settings=whole,
            changed_by=actor_user_id,
            actor=actor,
            created_at=clock.now(),
        )
    )
    audit.record(
        session,
        org_id,
        actor,
        actor_user_id,
        "settings.change",
        "organization",
        org_id,
        before={"version": before.version, **{k: before.editable_dict()[k] for k in changed}},
        after={"version": version, **{k: whole[k] for k in changed}},
    )
    session.commit()
    return _from_row(org)


def settings_versions(session: Session, limit: int = 100) -> list[OrgSettingsVersion]:
    """The tenant's settings versions, newest first."""
    query = select(OrgSettingsVersion).order_by(OrgSettingsVersion.version.desc()).limit(limit)
    return list(session.scalars(query))
