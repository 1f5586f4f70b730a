"""The end-of-day page shows the promise kept or broken: figures per driver and depot,
and the last 30 days as SVG charts drawn on the server."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import World
from tests.console.pages import log_in
from tests.factories import SERVICE_DATE
from tests.reconciliation.promise_day import build_promise_day

SVG = "{http://www.w3.org/2000/svg}"
_SVG = re.compile(r"<svg .*?</svg>", re.S)
_ROW = re.compile(r'<tr [^>]*data-depot="([^"]+)" data-driver="([^"]+)">(.*?)</tr>', re.S)
_CELL = re.compile(r'data-col="(\w+)">([^<]*)<')


def _page(client: FlaskClient, date: str) -> str:
    log_in(client, "dispatcher")
    response = client.get(f"/console/summary?date={date}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _charts(html: str) -> list[ET.Element]:
    # Markup our own server wrote in this test: nothing untrusted is parsed.
    return [ET.fromstring(svg) for svg in _SVG.findall(html)]  # noqa: S314


def test_the_page_shows_each_drivers_promise_figures(
    client: FlaskClient, world: World, session: Session
) -> None:
    build_promise_day(session, world)
    html = _page(client, SERVICE_DATE.isoformat())
    rows = {
        (depot, driver): dict(_CELL.findall(cells)) for depot, driver, cells in _ROW.findall(html)
    }
    a = rows[("North", "driver_a")]
    assert a == {
        "first_attempt_success_rate": "66.7%",
        "on_time_rate": "66.7%",
        "eta_mae_60": "15.0 min",
        "eta_mae_30": "15.0 min",
        "eta_mae_10": "5.0 min",
    }
    assert rows[("South", "driver_b")]["eta_mae_60"] == "—"
    assert rows[("*", "*")]["on_time_rate"] == "50.0%"


def test_the_trend_is_drawn_as_accessible_svg_that_carries_the_values(
    client: FlaskClient, world: World, session: Session
) -> None:
    build_promise_day(session, world)
    html = _page(client, SERVICE_DATE.isoformat())
    assert "<script" not in html.split("<section", 1)[1]
    on_time, first, eta = _charts(html)
    for chart in (on_time, first, eta):
        assert chart.get("role") == "img"
        title, desc = chart.find(f"{SVG}title"), chart.find(f"{SVG}desc")
        assert title is not None
        assert desc is not None
        assert chart.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    points = [c.findtext(f"{SVG}title") for c in on_time.iter(f"{SVG}circle")]
    # Two days had deliveries with a window: three days before (all on time) and the day.
    assert points == ["On time, 21 Nov: 100.0%", "On time, 24 Nov: 50.0%"]
    eta_points = {c.findtext(f"{SVG}title") for c in eta.iter(f"{SVG}circle")}
    assert eta_points == {
        "60 min before, 24 Nov: 15.0 min",
        "30 min before, 24 Nov: 15.0 min",
        "10 min before, 24 Nov: 5.0 min",
    }
    axis_text = [t.text for t in on_time.iter(f"{SVG}text")]
    assert "deliveries on time" in axis_text
    assert {"26 Oct", "24 Nov"} <= set(axis_text)
    # The values are on the page as text too.
    assert f'<tr data-day="{SERVICE_DATE.isoformat()}">' in html


def test_an_empty_day_says_no_data(client: FlaskClient, world: World) -> None:
    html = _page(client, "2026-06-01")
    assert "No stops on this day" in html
    assert 'data-testid="trend-empty"' in html
    charts = _charts(html)
    assert len(charts) == 3
    for chart in charts:
        assert "No data" in [t.text for t in chart.iter(f"{SVG}text")]
        assert list(chart.iter(f"{SVG}polyline")) == []


def test_the_trend_downloads_as_csv(client: FlaskClient, world: World, session: Session) -> None:
    build_promise_day(session, world)
    log_in(client, "dispatcher")
    response = client.get(f"/console/trend.csv?date={SERVICE_DATE}")
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 31
    assert lines[-1] == f"{SERVICE_DATE},0.5,4,0.75,4,15.0,15.0,5.0"
