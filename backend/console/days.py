"""Which service date and depot a console page is about, from its query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Depot, Stop
from backend.domain.reconcile import ExceptionKind
from backend.errors import ApiError
from backend.manifests.service import org_today


class DayQuerySchema(Schema):
    date = fields.Date()
    depot = fields.Integer(validate=validate.Range(min=1))
    driver = fields.String(validate=validate.Length(min=1, max=150))
    kind = fields.String(validate=validate.OneOf([k.value for k in ExceptionKind]))


@dataclass(frozen=True)
class DayScope:
    """The date, depot and filters a page shows, and the depots to choose from."""

    service_date: date
    depot_id: int | None
    driver: str | None
    kind: str | None
    depots: list[tuple[int, str]]

    def params(self, **changes: Any) -> dict[str, Any]:
        """Query parameters for a link to the same scope, with ``changes`` applied."""
        values: dict[str, Any] = {
            "date": self.service_date.isoformat(),
            "depot": self.depot_id,
            "driver": self.driver,
            "kind": self.kind,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value not in (None, "")}

    @property
    def depot_name(self) -> str | None:
        return dict(self.depots).get(self.depot_id or 0)


def default_day(session: Session, org_id: int) -> date:
    """Today where the tenant works if it has stops; else the nearest day that has some.

    A dispatcher opening the console after midnight, or the day before a seeded demo,
    lands on the day with work rather than an empty page.
    """
    today = org_today(session, org_id)
    if session.scalar(select(Stop.id).where(Stop.service_date == today).limit(1)) is not None:
        return today
    latest = session.scalar(
        select(func.max(Stop.service_date)).where(Stop.service_date <= today + timedelta(days=1))
    )
    return latest or today


def read_day_scope(session: Session, org_id: int, source: Any = None) -> DayScope:
    """Parse date/depot/driver/kind from the query string (or ``source``); 422 if bad."""
    raw = {k: v for k, v in (source if source is not None else request.args).items() if v != ""}
    try:
        query = DayQuerySchema().load(raw, unknown="exclude")
    except ValidationError as exc:
        raise ApiError(
            422,
            "validation_error",
            "the page's filters are invalid",
            errors={"query": exc.messages},
        ) from exc
    depots = [
        (depot_id, name)
        for depot_id, name in session.execute(select(Depot.id, Depot.name).order_by(Depot.name))
    ]
    depot_id = query.get("depot")
    if depot_id is not None and depot_id not in dict(depots):
        raise ApiError(404, "not_found", "depot not found")
    return DayScope(
        service_date=query.get("date") or default_day(session, org_id),
        depot_id=depot_id,
        driver=query.get("driver"),
        kind=query.get("kind"),
        depots=depots,
    )
