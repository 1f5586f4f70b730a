"""Depots: create, edit and retire them.

A depot is never deleted: stops and manifests of past days name it. A retired depot
is still listed and shown, but no new stop may name it (``depots_by_name`` offers
only the depots in service). Every change is validated whole before anything is
written, and recorded in the audit log in the same transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.db.models import Depot
from backend.db.session import begin_write
from backend.domain.clock import utc_text
from backend.domain.org_settings import zone_exists
from backend.domain.refusal import Refusal, not_found

EDITABLE = ("name", "address", "lat", "lon", "timezone")


def depot_dict(depot: Depot) -> dict[str, Any]:
    """A depot as the API, the console and the audit log show it."""
    return {
        "id": depot.id,
        "name": depot.name,
        "address": depot.address,
        "lat": depot.lat,
        "lon": depot.lon,
        "timezone": depot.timezone,
        "retired_at": utc_text(depot.retired_at),
    }


def list_depots(session: Session, *, include_retired: bool = True) -> list[Depot]:
    query = select(Depot).order_by(Depot.retired_at.is_not(None), Depot.name)
    if not include_retired:
        query = query.where(Depot.retired_at.is_(None))
    return list(session.scalars(query))


def depots_by_name(session: Session) -> dict[str, int]:
    """The depots a new stop may name (not retired), by name."""
    return {d.name: d.id for d in list_depots(session, include_retired=False)}


def get_depot(session: Session, depot_id: int) -> Depot:
    depot = session.get(Depot, depot_id)
    if depot is None:
        raise not_found("depot")
    return depot


def _coordinate(value: Any, limit: float) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, "must be a number"
    if not -limit <= value <= limit:
        return None, f"is off the map (must be from {-limit:g} to {limit:g})"
    return float(value), None


def _checked(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked field by field; every problem at once, or nothing."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in EDITABLE:
            errors[name] = ["unknown field"]
        elif name in ("lat", "lon"):
            number, problem = _coordinate(value, 90 if name == "lat" else 180)
            if problem:
                errors[name] = [problem]
            clean[name] = number
        elif not isinstance(value, str):
            errors[name] = ["must be text"]
        elif name == "name" and not 1 <= len(value.strip()) <= 200:
            errors[name] = ["must be 1 to 200 characters"]
        elif name == "address" and len(value) > 500:
            errors[name] = ["must be at most 500 characters"]
        elif name == "timezone" and not zone_exists(value):
            errors[name] = ["is not a time zone (use an IANA name such as Europe/Paris)"]
        else:
            clean[name] = value.strip()
    if errors:
        raise Refusal(
            "validation_error",
            f"{len(errors)} field(s) are invalid; nothing was changed",
            errors=errors,
        )
    return clean


def _refuse_taken_name(session: Session, name: str, depot_id: int | None) -> None:
    taken = session.scalar(select(Depot.id).where(Depot.name == name))
    if taken is not None and taken != depot_id:
        raise Refusal(
            "depot_name_taken",
            f"a depot named {name!r} already exists",
            field="name",
            errors={"name": ["already used by another depot (retired ones included)"]},
        )


def create_depot(
    session: Session,
    org_id: int,
    *,
    actor: str,
    actor_user_id: int | None,
    values: Mapping[str, Any],
) -> Depot:
    begin_write(session)
    missing = [name for name in ("name", "lat", "lon") if name not in values]
    if missing:
        raise Refusal(
            "validation_error",
            "name, lat and lon are required",
            errors={name: ["Missing data for required field."] for name in missing},
        )
    clean = _checked(values)
    _refuse_taken_name(session, clean["name"], None)
    depot = Depot(org_id=org_id, **clean)
    session.add(depot)
    session.flush()
    audit.record(
        session,
        org_id,
        actor,
        actor_user_id,
        "depot.create",
        "depot",
        depot.id,
        after=depot_dict(depot),
    )
    session.commit()
    return depot


def change_depot(
    session: Session,
    depot_id: int,
    *,
    actor: str,
    actor_user_id: int | None,
    values: Mapping[str, Any],
) -> Depot:
    begin_write(session)
    depot = get_depot(session, depot_id)
    clean = _checked(values)
    if "name" in clean:
        _refuse_taken_name(session, clean["name"], depot.id)
    before = depot_dict(depot)
    for name, value in clean.items():
        setattr(depot, name, value)
    if depot_dict(depot) == before:
        session.rollback()
        return get_depot(session, depot_id)
    session.flush()
    audit.record(
        session,
        depot.org_id,
        actor,
        actor_user_id,
        "depot.change",
        "depot",
        depot.id,
        before=before,
        after=depot_dict(depot),
    )
    session.commit()
    return depot


def retire_depot(
    session: Session, depot_id: int, *, actor: str, actor_user_id: int | None
) -> Depot:
    """Retire the depot (idempotent: retiring a retired depot changes nothing)."""
    begin_write(session)
    depot = get_depot(session, depot_id)
    if depot.retired_at is None:
        before = depot_dict(depot)
        depot.retired_at = clock.now()
        audit.record(
            session,
            depot.org_id,
            actor,
            actor_user_id,
            "depot.retire",
            "depot",
            depot.id,
            before=before,
            after=depot_dict(depot),
        )
        session.commit()
    return depot
