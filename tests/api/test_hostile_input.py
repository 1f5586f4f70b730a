"""Hostile input is a 4xx with the documented error shape, never a 500; in a sync batch
it rejects its own event and nothing else.

Each class of value that Python parses happily but nothing downstream can handle: a
lone UTF-16 surrogate, a time at the calendar's edge, an integer beyond 64 bits, JSON
nested thousands deep, a hash with a trailing newline, NUL in a CSV import, CR/LF in a
redirect target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.db.models import DoorEventRow, Stop
from backend.domain.clock import SetClock
from backend.sync import ingest
from tests.conftest import World
from tests.console.pages import csrf_of, error_code, log_in
from tests.factories import make_manifest
from tests.sync.helpers import Device, png, ref

Auth = Callable[[str], dict[str, str]]

JSON = {"Content-Type": "application/json"}
LONE_SURROGATE = '"\\ud83d"'  # the first half of an emoji, as JSON text
HUGE = 2**70
DEEP = "[" * 100_000 + "]" * 100_000
YEAR_ONE_AHEAD_OF_UTC = "0001-01-01T00:00:00+01:00"
YEAR_9999_BEHIND_UTC = "9999-12-31T23:59:59-01:00"
SHA_WITH_NEWLINE = "a" * 64 + "\n"
CSV_HEADER = "order_number,address,lat,lon,parcels"


@pytest.fixture
def stop_ids(session: Session, world: World) -> list[int]:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    session.commit()
    return list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )


def assert_json_error(response: TestResponse, code: str | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == response.status_code
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


@dataclass(frozen=True)
class Call:
    """One request: who sends it (None: nobody logged in) and what."""

    who: str | None
    method: str
    path: str
    body: str | None = None
    content_type: str = "application/json"


def _send(client: FlaskClient, auth: Auth, call: Call) -> TestResponse:
    headers = auth(call.who) if call.who else {}
    if call.body is not None:
        headers["Content-Type"] = call.content_type
    return client.open(call.path, method=call.method, data=call.body, headers=headers)


def _login(username: str) -> str:
    return json.dumps({"username": "x", "password": "pw", "device_id": "d"}).replace(
        '"x"', username
    )


def _import(address: str) -> str:
    row = f'{{"order_number": "Z-1", "address": {address}, "lat": 1, "lon": 1, "parcels": ["P1"]}}'
    return f'{{"service_date": "2026-11-24", "stops": [{row}]}}'


API_CASES: dict[str, tuple[Call, str]] = {
    # A lone surrogate: valid JSON, not encodable as UTF-8, so it failed at the INSERT.
    "a lone surrogate in an unauthenticated login": (
        Call(None, "POST", "/api/v1/auth/token", _login(LONE_SURROGATE)),
        "invalid_unicode",
    ),
    "a lone surrogate in a stop change": (
        Call("dispatcher", "PATCH", "/api/v1/stops/1", f'{{"instructions": {LONE_SURROGATE}}}'),
        "invalid_unicode",
    ),
    "a lone surrogate in a JSON stop import": (
        Call("dispatcher", "POST", "/api/v1/stops/import", _import(LONE_SURROGATE)),
        "invalid_unicode",
    ),
    # JSON nested deeper than the parser's recursion limit.
    "deep JSON in an unauthenticated login": (
        Call(None, "POST", "/api/v1/auth/token", DEEP),
        "json_too_deep",
    ),
    "deep JSON in a stop import": (
        Call("dispatcher", "POST", "/api/v1/stops/import", DEEP),
        "json_too_deep",
    ),
    "deep JSON as a whole sync body": (
        Call("driver_a", "POST", "/api/v1/sync", DEEP),
        "json_too_deep",
    ),
    # Integers beyond 64 bits in a path, a query and a body.
    "a 70-bit stop id in the path": (
        Call("dispatcher", "GET", f"/api/v1/stops/{HUGE}"),
        "not_found",
    ),
    "a 70-bit offset in the query": (
        Call("dispatcher", "GET", f"/api/v1/stops?date=2026-11-24&offset={HUGE}"),
        "integer_out_of_range",
    ),
    "a 70-bit stop id in a manifest body": (
        Call(
            "dispatcher",
            "PUT",
            "/api/v1/manifests/driver_a/2026-11-24",
            json.dumps({"stop_ids": [HUGE]}),
        ),
        "integer_out_of_range",
    ),
    "a sync cursor beyond 64 bits": (
        Call(
            "driver_a",
            "POST",
            "/api/v1/sync",
            json.dumps({"device_id": "dev-driver_a", "cursor": str(2**63), "events": []}),
        ),
        "validation_error",
    ),
    # Times with no UTC equivalent.
    "year 1 ahead of UTC in a stop's window": (
        Call(
            "dispatcher",
            "PATCH",
            "/api/v1/stops/1",
            json.dumps({"window_start": YEAR_ONE_AHEAD_OF_UTC}),
        ),
        "validation_error",
    ),
    "year 9999 behind UTC in a stop's window": (
        Call(
            "dispatcher",
            "PATCH",
            "/api/v1/stops/1",
            json.dumps(
                {"window_start": "2026-11-24T09:00:00Z", "window_end": YEAR_9999_BEHIND_UTC}
            ),
        ),
        "validation_error",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_hostile_input_to_the_api_is_a_4xx_with_the_error_shape(
    client: FlaskClient, auth: Auth, stop_ids: list[int], case: str
) -> None:
    call, code = API_CASES[case]
    assert_json_error(_send(client, auth, call), code)


def test_a_nul_in_a_csv_import_names_its_row_and_imports_nothing(
    client: FlaskClient, auth: Auth, stop_ids: list[int], session: Session
) -> None:
    csv = f"{CSV_HEADER}\nZ-1,1 Elm St,1,1,P1\nZ-2,2 Elm\x00St,1,1,P2\n"
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data=csv,
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    body = assert_json_error(response, "import_invalid")
    assert list(body["errors"]["rows"]) == ["3"]
    assert "address" in body["errors"]["rows"]["3"]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Stop)) == len(stop_ids)


@pytest.mark.parametrize("when", [YEAR_ONE_AHEAD_OF_UTC, YEAR_9999_BEHIND_UTC])
def test_a_csv_import_time_at_the_calendars_edge_names_its_row(
    client: FlaskClient, auth: Auth, world: World, when: str
) -> None:
    csv = f"{CSV_HEADER},window_start,window_end\nZ-1,1 Elm St,1,1,P1,{when},{when}\n"
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data=csv,
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    body = assert_json_error(response, "import_invalid")
    assert "window_start" in body["errors"]["rows"]["2"]


# The console answers with an HTML page carrying data-code, the same status and code.
CONSOLE_CASES = {
    "a 70-bit stop id in a console page path": ("GET", f"/console/deliveries/{HUGE}"),
    "a 70-bit dispute id in a console form path": ("POST", f"/console/disputes/{HUGE}/notes"),
}


@pytest.mark.parametrize("case", sorted(CONSOLE_CASES))
def test_hostile_input_to_the_console_is_a_4xx_page_with_a_code(
    client: FlaskClient, world: World, case: str
) -> None:
    method, path = CONSOLE_CASES[case]
    log_in(client, "admin")
    token = csrf_of(client, "/console/search")
    response = client.open(path, method=method, data={"csrf_token": token, "text": "x"})
    assert 400 <= response.status_code < 500, response.status_code
    assert error_code(response) == "not_found"


REDIRECT_TARGETS = [
    "/console/day\r\nSet-Cookie: stolen=1",
    "/console/day\nLocation: https://evil.example",
    "/console/day\x1b[2J",
]


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_a_login_next_with_control_characters_goes_home_instead(
    client: FlaskClient, world: World, target: str
) -> None:
    response = client.post(
        "/console/login",
        data={
            "csrf_token": csrf_of(client),
            "username": "dispatcher",
            "password": "pw",
            "next": target,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/day"
    assert "stolen" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
def test_a_logged_in_login_page_with_a_control_character_next_goes_home(
    client: FlaskClient, world: World, target: str
) -> None:
    log_in(client, "dispatcher")
    response = client.get("/console/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/day"


# --- Sync: one bad event is rejected on its own line; the rest of the batch applies.


@pytest.fixture
def device(client: FlaskClient, world: World, token_for: Callable[[str], str]) -> Device:
    return Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})


def _raw_sync(device: Device, events: list[str]) -> TestResponse:
    """A sync request whose events are given as JSON text (to carry a lone surrogate)."""
    body = f'{{"device_id": "{device.device_id}", "cursor": null, "events": [{", ".join(events)}]}}'
    return device.client.post("/api/v1/sync", data=body, headers={**device.headers, **JSON})


def _hostile_events(device: Device, stop_id: int, clock: SetClock) -> dict[str, tuple[str, str]]:
    """Event JSON text by case, each with the rejection code it must get."""

    def event(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        raw = device.event(stop_id)
        change(raw)
        return raw

    def geo(fixed_at: str) -> Callable[[dict[str, Any]], None]:
        return lambda raw: raw["payload"]["geo"].update(fixed_at=fixed_at)

    too_late = (clock.now() + timedelta(days=2)).isoformat()
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "recorded at year 1 ahead of UTC": (
            event(lambda raw: raw.update(recorded_at=YEAR_ONE_AHEAD_OF_UTC)),
            "invalid_time",
        ),
        "recorded at 9999 behind UTC": (
            event(lambda raw: raw.update(recorded_at=YEAR_9999_BEHIND_UTC)),
            "invalid_time",
        ),
        "recorded two days after the server's now": (
            event(lambda raw: raw.update(recorded_at=too_late)),
            "implausible_time",
        ),
        "recorded in 1970": (
            event(lambda raw: raw.update(recorded_at="1970-01-01T00:00:00Z")),
            "implausible_time",
        ),
        "fixed at 9999 behind UTC": (event(geo(YEAR_9999_BEHIND_UTC)), "invalid_time"),
        "fixed before 2020": (event(geo("2019-12-31T23:59:59Z")), "implausible_time"),
        "a hash with a trailing newline": (
            event(
                lambda raw: raw.update(
                    evidence=[{**ref(png("x")), "sha256": SHA_WITH_NEWLINE}],
                )
            ),
            "invalid_evidence",
        ),
        "a 70-bit base version": (
            event(lambda raw: raw.update(base_version=HUGE)),
            "integer_out_of_range",
        ),
        "a payload nested 100 deep": (
            event(
                lambda raw: raw["payload"].update(recipient_name=json.loads("[" * 100 + "]" * 100))
            ),
            "json_too_deep",
        ),
    }
    texts = {name: (json.dumps(raw), code) for name, (raw, code) in cases.items()}
    surrogate = device.event(stop_id)
    surrogate["payload"]["recipient_name"] = "SURROGATE"
    texts["a lone surrogate in the recipient's name"] = (
        json.dumps(surrogate).replace('"SURROGATE"', LONE_SURROGATE),
        "invalid_unicode",
    )
    broken_id = device.event(stop_id)
    texts["a lone surrogate in the event's id"] = (
        json.dumps(broken_id).replace(broken_id["id"][:4], "\\udc00", 1),
        "invalid_unicode",
    )
    return texts


def test_each_hostile_event_is_rejected_alone_and_the_rest_of_the_batch_applies(
    client: FlaskClient,
    device: Device,
    stop_ids: list[int],
    clock: SetClock,
    session: Session,
) -> None:
    first, last = device.event(stop_ids[0], "arrived"), device.event(stop_ids[2], "arrived")
    hostile = _hostile_events(device, stop_ids[1], clock)
    texts = [json.dumps(first), *(text for text, _ in hostile.values()), json.dumps(last)]
    response = _raw_sync(device, texts)
    assert response.status_code == 200, response.data[:500]
    results = response.get_json()["results"]
    assert len(results) == len(texts)
    assert results[0]["status"] == "applied"
    assert results[-1]["status"] == "applied"
    for (case, (_, code)), result in zip(hostile.items(), results[1:-1], strict=True):
        assert (case, result["status"], result["code"]) == (case, "rejected", code)
    session.rollback()
    stored = set(session.scalars(select(DoorEventRow.event_id)))
    assert stored == {first["id"], last["id"]}


@pytest.mark.parametrize("case", ["a 70-bit base version", "a hash with a trailing newline"])
def test_a_hostile_event_alone_in_a_batch_is_rejected_not_a_500(
    device: Device, stop_ids: list[int], clock: SetClock, case: str
) -> None:
    text, code = _hostile_events(device, stop_ids[1], clock)[case]
    response = _raw_sync(device, [text])
    assert response.status_code == 200, response.data[:300]
    assert response.get_json()["results"][0]["code"] == code


def test_an_event_the_database_refuses_is_rejected_alone_and_the_others_are_stored(
    device: Device, stop_ids: list[int], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing that passes parse_event should fail in the database; should something
    # still, its event alone is rejected: the transaction stays usable (a SAVEPOINT).
    events = [device.event(stop_id) for stop_id in stop_ids]
    refused = events[1]["id"]
    seal = ingest.seal_deliveries

    def seal_one_badly(*args: Any) -> list[dict[str, Any]]:
        proofs = seal(*args)
        for proof in proofs:
            if proof["event_id"] == refused:
                proof["stop_id"] = 999_999  # no such stop: the proof's foreign key fails
        return proofs

    monkeypatch.setattr(ingest, "seal_deliveries", seal_one_badly)
    response = device.sync(events)
    assert response.status_code == 200, response.data[:300]
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["code"] == "unstorable_event"
    assert "receipt" in results[0]
    assert "receipt" not in results[1]
    session.rollback()
    stored = set(session.scalars(select(DoorEventRow.event_id)))
    assert stored == {events[0]["id"], events[2]["id"]}
