"""The dispatch view shows when each driver should reach their next stop."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.console.pages import log_in
from tests.factories import SERVICE_DATE
from tests.sync.helpers import Device


def _driver_row(client: FlaskClient) -> str:
    html = client.get(f"/console/day?date={SERVICE_DATE}").get_data(as_text=True)
    return html[html.index('data-driver="driver_a"') :].split("</tr>")[0]


def test_the_next_stop_shows_its_eta_once_there_is_one(
    client: FlaskClient, device: Device, stops: list[int]
) -> None:
    log_in(client, "dispatcher")
    assert "next_eta" not in _driver_row(client)
    device.sync(positions=[{"lat": 47.6, "lon": -122.33, "recorded_at": "2026-11-24T16:58:00Z"}])
    row = _driver_row(client)
    assert 'data-col="next_eta">ETA' in row
    assert "101 Pine St" in row
