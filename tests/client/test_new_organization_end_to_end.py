"""#15's "done means", end to end: an operator makes an organization with the CLI, its
admin signs in to the console, adds a depot and ten drivers from a CSV, a dispatcher
plans a stop for one of them, and that driver's app logs in and receives it. Nothing
on the way touches the database by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from backend.config import Settings
from driver_client.capture import FixedLocation
from driver_client.device import Device
from tests.admin.cli_helpers import run_cli
from tests.client.conftest import LiveServer
from tests.console.pages import log_in

FIRST = "harbour-lantern-quay-7"  # the one the operator hands over
CHOSEN = "tidal-compass-rope-42"  # each person's own, chosen at first sign-in


def _token(client: FlaskClient, username: str, password: str) -> dict[str, str]:
    reply = client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device_id": "laptop"},
    )
    assert reply.status_code == 200, reply.get_json()
    return {"Authorization": f"Bearer {reply.get_json()['access_token']}"}


def _choose_password(client: FlaskClient, headers: dict[str, str], current: str) -> None:
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": CHOSEN},
        headers=headers,
    )
    assert changed.status_code == 200, changed.get_json()


def _ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.get_data(as_text=True)
    return reply.get_json()


def test_an_operator_an_admin_a_dispatcher_and_a_driver_start_an_organization(
    tmp_path: Path,
    server: LiveServer,
    client: FlaskClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The operator.
    status, out, err = run_cli(
        monkeypatch,
        capsys,
        settings.database_url,
        *("org", "create", "Harbour Parcels", "--timezone", "America/Los_Angeles"),
        *("--admin", "harbour_admin", "--password-stdin"),
        stdin=FIRST + "\n",
    )
    assert status == 0, err
    assert "created organization harbour-parcels" in out

    # The admin: the API asks for a new password first; then the console lets them in.
    admin = _token(client, "harbour_admin", FIRST)
    refused = client.get("/api/v1/admin/users", headers=admin)
    assert (refused.status_code, refused.get_json()["code"]) == (403, "password_change_required")
    _choose_password(client, admin, FIRST)
    signed_in = log_in(client, "harbour_admin", CHOSEN)
    assert signed_in.status_code == 302
    assert client.get(signed_in.headers["Location"]).status_code == 200

    depot = _ok(
        client.post(
            "/api/v1/admin/depots",
            json={"name": "Harbour Island", "address": "1 Pier Way", "lat": 47.58, "lon": -122.35},
            headers=admin,
        ),
        201,
    )
    rows = "".join(f"hp{n:02d},driver,Driver {n}\n" for n in range(1, 11))
    imported = _ok(
        client.post(
            "/api/v1/admin/users/import",
            data="username,role,full_name\n" + rows + "hp_dispatch,dispatcher,Dispatch\n",
            headers={**admin, "Content-Type": "text/csv"},
        ),
        201,
    )
    passwords = {i["user"]["username"]: i["one_time_password"] for i in imported["items"]}
    assert len([name for name in passwords if name.startswith("hp") and name[2:].isdigit()]) == 10

    # The dispatcher plans today's stop for hp03 at the new depot.
    dispatch = _token(client, "hp_dispatch", passwords["hp_dispatch"])
    _choose_password(client, dispatch, passwords["hp_dispatch"])
    today = server.clock.now().astimezone(ZoneInfo("America/Los_Angeles"))
    planned = _ok(
        client.post(
            f"/api/v1/stops/import?date={today.date().isoformat()}",
            data=(
                "order_number,address,lat,lon,parcels,driver,depot\n"
                f"HP-1,12 Dock St,47.581,-122.351,HP1A,hp03,{depot['name']}\n"
            ),
            headers={**dispatch, "Content-Type": "text/csv"},
        ),
        201,
    )
    assert planned["created"] == 1

    # The driver's app: a first login with the one-time password, a new password, a sync.
    phone = Device(
        tmp_path / "phone",
        server.url,
        FixedLocation(47.581, -122.351, 8, server.clock.now),
        server.clock.now,
    )
    phone.login("hp03", passwords["hp03"])
    assert phone.store.get("must_change_password", "") == "1"
    phone.transport.change_password(passwords["hp03"], CHOSEN)
    phone.engine.sync()
    assert [stop["order_number"] for stop in phone.store.stops()] == ["HP-1"]
    phone.close()
