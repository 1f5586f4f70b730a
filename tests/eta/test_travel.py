"""Travel-time providers: the great circle, and OSRM's table service over real HTTP."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.domain.eta import Point
from backend.eta.travel import GreatCircle, OsrmTable, from_setting, leg_seconds

RECORDED = json.loads((Path(__file__).parent / "osrm_table.json").read_text())
ORIGINS = [Point(47.610002, -122.330001), Point(47.61502, -122.33501)]
DESTINATIONS = [Point(47.62001, -122.34002), Point(47.63003, -122.35004)]


class Osrm:
    """A local HTTP server answering like OSRM, recording the requests it got."""

    def __init__(self) -> None:
        self.answer: tuple[int, Any] = (200, RECORDED)
        self.delay = 0.0
        self.requests: list[str] = []
        osrm = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                osrm.requests.append(self.path)
                if osrm.delay:
                    threading.Event().wait(osrm.delay)
                status, body = osrm.answer
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def osrm() -> Iterator[Osrm]:
    server = Osrm()
    yield server
    server.close()


def test_the_great_circle_is_slower_for_short_hops_and_has_a_detour() -> None:
    travel = GreatCircle()
    a = Point(47.6, -122.3)
    one_km_north = Point(47.6 + 1 / 111.2, -122.3)
    ten_km_north = Point(47.6 + 10 / 111.2, -122.3)
    # 1 km * 1.3 at 18 km/h = 260 s; 10 km * 1.3 at 35 km/h = 1337 s.
    assert travel.seconds(a, one_km_north) == pytest.approx(260, rel=0.01)
    assert travel.seconds(a, ten_km_north) == pytest.approx(1337, rel=0.01)
    assert travel.matrix([a], [a, one_km_north])[0][0] == 0.0


def test_osrm_answers_the_recorded_table_and_is_asked_in_its_own_format(osrm: Osrm) -> None:
    matrix = OsrmTable(osrm.url).matrix(ORIGINS, DESTINATIONS)
    assert matrix[0] == [412.3, 980.1]
    assert matrix[1][0] == 377.9
    # null (no route) falls back to the great circle for that pair alone.
    assert matrix[1][1] == pytest.approx(GreatCircle().seconds(ORIGINS[1], DESTINATIONS[1]))
    (path,) = osrm.requests
    url = urlsplit(path)
    assert url.path == (
        "/table/v1/driving/-122.330001,47.610002;-122.335010,47.615020;"
        "-122.340020,47.620010;-122.350040,47.630030"
    )
    assert parse_qs(url.query) == {
        "annotations": ["duration"],
        "sources": ["0;1"],
        "destinations": ["2;3"],
    }


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"code": "NoTable", "message": "no table"}),
        (400, {"code": "InvalidQuery", "message": "bad"}),
        (200, b"not json"),
        (200, {"code": "Ok", "durations": [[1.0]]}),
    ],
)
def test_a_failing_osrm_falls_back_to_the_great_circle_and_says_so(
    osrm: Osrm, answer: tuple[int, Any], caplog: pytest.LogCaptureFixture
) -> None:
    osrm.answer = answer
    with caplog.at_level(logging.WARNING, logger="backend.eta.travel"):
        matrix = OsrmTable(osrm.url).matrix(ORIGINS, DESTINATIONS)
    assert matrix == GreatCircle().matrix(ORIGINS, DESTINATIONS)
    assert "OSRM table failed" in caplog.text


def test_a_slow_osrm_times_out_into_the_great_circle(
    osrm: Osrm, caplog: pytest.LogCaptureFixture
) -> None:
    osrm.delay = 1.0
    with caplog.at_level(logging.WARNING, logger="backend.eta.travel"):
        matrix = OsrmTable(osrm.url, timeout=0.2).matrix(ORIGINS, DESTINATIONS)
    assert matrix == GreatCircle().matrix(ORIGINS, DESTINATIONS)
    assert "timed out" in caplog.text


def test_an_unreachable_osrm_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    closed = Osrm()
    closed.close()
    with caplog.at_level(logging.WARNING, logger="backend.eta.travel"):
        matrix = OsrmTable(closed.url, timeout=0.5).matrix(ORIGINS, DESTINATIONS)
    assert matrix == GreatCircle().matrix(ORIGINS, DESTINATIONS)
    assert "OSRM table failed" in caplog.text


def test_legs_are_the_diagonals_of_a_few_requests(osrm: Osrm) -> None:
    legs = [(ORIGINS[0], DESTINATIONS[0]), (ORIGINS[1], DESTINATIONS[1])]
    assert leg_seconds(OsrmTable(osrm.url), legs)[0] == 412.3
    many = [(ORIGINS[0], DESTINATIONS[0])] * 100
    osrm.requests.clear()
    assert len(leg_seconds(OsrmTable(osrm.url), many)) == 100
    assert len(osrm.requests) == 3  # 45 + 45 + 10 legs


def test_the_setting_chooses_the_provider() -> None:
    assert isinstance(from_setting(""), GreatCircle)
    assert isinstance(from_setting("great-circle"), GreatCircle)
    chosen = from_setting("osrm+http://osrm.internal:5000")
    assert isinstance(chosen, OsrmTable)
    assert chosen.base_url == "http://osrm.internal:5000"
    with pytest.raises(ValueError, match="DOORSTEP_TRAVEL_TIMES"):
        from_setting("valhalla://x")
