"""The promise figures through the API: the summary's new columns (JSON and CSV) and
the 30-day trend (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.domain.stops import StopStatus
from backend.reconciliation.promise_metrics import TREND_COLUMNS
from backend.reconciliation.schemas import SummaryRowSchema, TrendPointSchema
from backend.reconciliation.summary import SUMMARY_COLUMNS
from tests.conftest import World
from tests.documented import assert_documented
from tests.factories import SERVICE_DATE, make_manifest
from tests.reconciliation.promise_day import EARLIER, PromiseDay, at, build_promise_day, report
from tests.sync.helpers import Device, files_by_hash, png, ref

Auth = Callable[[str], dict[str, str]]
SUMMARY = f"/api/v1/reconciliation/summary?date={SERVICE_DATE}"
TREND = f"/api/v1/reconciliation/trend?date={SERVICE_DATE}"


@pytest.fixture
def built(session: Session, world: World) -> PromiseDay:
    return build_promise_day(session, world)


def test_the_summary_gives_each_row_its_promise_figures(
    client: FlaskClient, auth: Auth, built: PromiseDay
) -> None:
    body = client.get(SUMMARY, headers=auth("dispatcher")).get_json()
    rows = {(r["depot"], r["driver"]): r for r in body["rows"]}
    a = rows[("North", "driver_a")]
    assert a["first_attempt_success_rate"] == 0.667
    assert (a["on_time_rate"], a["eta_mae_60"], a["eta_mae_30"], a["eta_mae_10"]) == (
        0.667,
        15.0,
        15.0,
        5.0,
    )
    assert rows[("South", "driver_b")]["eta_mae_60"] is None
    assert rows[("*", "*")]["on_time_rate"] == 0.5
    # The schema (and so the OpenAPI document) declares exactly what the body holds.
    assert set(a) == set(SummaryRowSchema().fields)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert_documented(spec, "Summary", body)


def test_the_summary_csv_has_the_promise_columns(
    client: FlaskClient, auth: Auth, built: PromiseDay
) -> None:
    response = client.get(SUMMARY + "&format=csv", headers=auth("dispatcher"))
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    [a] = [r for r in rows if r["driver"] == "driver_a"]
    assert (a["on_time_rate"], a["eta_mae_60"], a["eta_mae_10"]) == ("0.667", "15.0", "5.0")
    [b] = [r for r in rows if r["driver"] == "driver_b"]
    assert (b["on_time_rate"], b["eta_mae_60"]) == ("0.0", "")


def test_the_trend_answers_30_days_as_json(
    client: FlaskClient, auth: Auth, built: PromiseDay
) -> None:
    body = client.get(TREND, headers=auth("dispatcher")).get_json()
    assert (body["date"], body["depot"], body["driver"]) == (SERVICE_DATE.isoformat(), None, None)
    points = {p["date"]: p for p in body["points"]}
    assert len(body["points"]) == 30
    assert points[SERVICE_DATE.isoformat()]["on_time_rate"] == 0.5
    assert points[EARLIER.isoformat()]["first_attempt_success_rate"] == 1.0
    assert points[(SERVICE_DATE - timedelta(days=1)).isoformat()]["on_time_rate"] is None
    assert set(body["points"][0]) == set(TrendPointSchema().fields)
    assert_documented(client.get("/api/v1/openapi.json").get_json(), "Trend", body)


def test_the_trend_narrows_to_a_depot_or_a_driver(
    client: FlaskClient, auth: Auth, built: PromiseDay
) -> None:
    south = client.get(f"{TREND}&depot={built.south}", headers=auth("dispatcher")).get_json()
    assert south["depot"] == built.south
    assert south["points"][-1]["on_time_rate"] == 0.0
    a = client.get(f"{TREND}&driver=driver_a", headers=auth("dispatcher")).get_json()
    assert a["points"][-1]["on_time_rate"] == 0.667


def test_the_trend_answers_csv(client: FlaskClient, auth: Auth, built: PromiseDay) -> None:
    response = client.get(TREND + "&format=csv", headers=auth("dispatcher"))
    assert response.mimetype == "text/csv"
    assert f'filename="trend-{SERVICE_DATE}.csv"' in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].split(",") == list(TREND_COLUMNS)
    assert lines[-1] == f"{SERVICE_DATE},0.5,4,0.75,4,15.0,15.0,5.0"


def test_another_tenant_sees_none_of_the_figures(
    client: FlaskClient, auth: Auth, built: PromiseDay
) -> None:
    body = client.get(TREND, headers=auth("other_dispatcher")).get_json()
    # Its own late delivery (no arrived report, one early ETA) is all it sees.
    last = body["points"][-1]
    assert (last["on_time_rate"], last["on_time_measured"]) == (0.0, 1)
    assert not any(p["on_time_measured"] for p in body["points"][:-1])


@pytest.mark.parametrize(
    "query",
    ["", "?date=2026-13-01", f"?date={SERVICE_DATE}&format=xml", f"?date={SERVICE_DATE}&depot=0"],
)
def test_a_bad_trend_query_is_refused(
    client: FlaskClient, auth: Auth, world: World, query: str
) -> None:
    response = client.get(f"/api/v1/reconciliation/trend{query}", headers=auth("dispatcher"))
    assert (response.status_code, response.get_json()["code"]) == (422, "validation_error")


def test_drivers_cannot_read_the_trend(client: FlaskClient, auth: Auth, world: World) -> None:
    assert client.get(TREND, headers=auth("driver_a")).status_code == 403
    assert client.get(TREND).status_code == 401


def test_a_rejected_delivery_and_its_next_attempt_are_not_first_attempt_successes(
    client: FlaskClient, auth: Auth, world: World, session: Session, token_for: Callable[[str], str]
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    session.commit()
    first, second = session.scalars(
        select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
    )
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    noon = "2026-11-24T12:00:00+00:00"
    body = device.sync(
        [
            {**device.event(first, evidence=[ref(png("sig"))]), "recorded_at": noon},
            {**device.event(second), "recorded_at": noon},  # no signature: policy unmet
        ]
    ).get_json()
    device.upload_owed(body, files_by_hash(png("sig")))
    assert _row(client, auth, SERVICE_DATE)["first_attempt_success_rate"] == 1.0

    rejected = client.post(
        f"/api/v1/reconciliation/stops/{second}/exceptions/policy_unmet",
        json={"decision": "reject", "note": "no signature"},
        headers=auth("dispatcher"),
    )
    assert rejected.status_code == 201
    assert _row(client, auth, SERVICE_DATE)["first_attempt_success_rate"] == 0.5

    # The next attempt is delivered the next day: a second attempt, not a new first one.
    session.rollback()
    copy = session.get(Stop, rejected.get_json()["replanned_stop_id"])
    assert copy is not None
    assert copy.order_number.endswith("-R1")
    tomorrow = SERVICE_DATE + timedelta(days=1)
    copy.manifest_id = make_manifest(
        session, world.org_id, world.users["driver_a"], stops=0, service_date=tomorrow
    ).id
    copy.status = StopStatus.DELIVERED
    report(session, copy, world.users["driver_a"], "delivered", at(10, day=tomorrow))
    session.commit()
    next_day = _row(client, auth, tomorrow)
    assert (next_day["delivered"], next_day["first_attempt_success_rate"]) == (1, None)
    assert next_day["on_time_rate"] == 1.0


def _row(client: FlaskClient, auth: Auth, day: date) -> dict[str, Any]:
    """The day's total row of the summary."""
    rows = client.get(
        f"/api/v1/reconciliation/summary?date={day}", headers=auth("dispatcher")
    ).get_json()["rows"]
    total: dict[str, Any] = rows[-1]
    assert (total["depot"], total["driver"]) == ("*", "*")
    return total
