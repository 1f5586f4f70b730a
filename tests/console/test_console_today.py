"""Today's figures add up: per-driver rows sum to the headline, whatever the depots."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import Depot, Stop
from tests.conftest import World
from tests.console.pages import log_in
from tests.factories import SERVICE_DATE, make_manifest

DAY = SERVICE_DATE.isoformat()
COLUMNS = ("delivered", "failed", "pending", "open_exceptions")
_ROW = re.compile(r'<tr data-driver="([^"]+)">(.*?)</tr>', re.S)
_CELL = re.compile(r'data-col="(\w+)">(?:<a[^>]*>)?(\d+)')
_TOTAL = re.compile(r'data-total="(\w+)">(\d+)<')
_OPEN_TOTAL = re.compile(r'data-testid="open-total">(\d+)<')


def _two_depot_day(session: Session, world: World) -> None:
    """driver_a works 3 stops out of North and 2 out of South; driver_b 2 out of North;
    one stop is on nobody's manifest yet. Every stop is still to do (no_outcome)."""
    north = Depot(org_id=world.org_id, name="North", lat=47.66, lon=-122.33)
    south = Depot(org_id=world.org_id, name="South", lat=47.55, lon=-122.32)
    session.add_all([north, south])
    session.flush()
    a = make_manifest(session, world.org_id, world.users["driver_a"], stops=5, depot_id=north.id)
    make_manifest(session, world.org_id, world.users["driver_b"], stops=2, depot_id=north.id)
    a_stops = session.scalars(select(Stop.id).where(Stop.manifest_id == a.id).order_by(Stop.id))
    session.execute(update(Stop).where(Stop.id.in_(list(a_stops)[3:])).values(depot_id=south.id))
    unassigned = make_manifest(session, world.org_id, world.users["admin"], stops=1)
    session.execute(update(Stop).where(Stop.manifest_id == unassigned.id).values(manifest_id=None))
    session.commit()


def test_rows_add_up_to_the_headline_when_a_driver_works_two_depots(
    client: FlaskClient, world: World, session: Session
) -> None:
    _two_depot_day(session, world)
    log_in(client, "dispatcher")
    html = client.get(f"/console/day?date={DAY}").get_data(as_text=True)

    rows = [(driver, dict(_CELL.findall(cells))) for driver, cells in _ROW.findall(html)]
    assert [driver for driver, _ in rows] == ["driver_a", "driver_a", "driver_b", "(unassigned)"]
    totals = {name: int(value) for name, value in _TOTAL.findall(html)}
    totals["open_exceptions"] = int(_OPEN_TOTAL.findall(html)[0])
    assert totals == {"delivered": 0, "failed": 0, "pending": 8, "open_exceptions": 8}
    for column in COLUMNS:
        assert sum(int(cells[column]) for _, cells in rows) == totals[column], column
    # driver_a's two rows each count only their own depot's stops.
    assert sorted(int(cells["pending"]) for driver, cells in rows if driver == "driver_a") == [2, 3]
