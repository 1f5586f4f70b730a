"""Travel times between points, from a pluggable provider.

``TravelTimes.matrix(origins, destinations)`` answers seconds from every origin to
every destination. :class:`GreatCircle` needs no outside service (distance along the
earth times a detour factor, at a speed that depends on how far the leg is);
:class:`OsrmTable` asks an OSRM server's table service and falls back to the great
circle, logging why, when the server is slow, down or answers anything but ``Ok``.
The setting ``DOORSTEP_TRAVEL_TIMES`` picks one (:func:`from_setting`).
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backend.domain.eta import Point
from backend.domain.geo import haversine_m

log = logging.getLogger(__name__)

GREAT_CIRCLE = "great-circle"
OSRM_SCHEME = "osrm+"
# Speed by how far the leg is, as the crow flies: short hops stay on slow streets,
# longer legs reach arterials. (upper bound in km, km/h), the last band open-ended.
DEFAULT_SPEED_BANDS: tuple[tuple[float, float], ...] = ((1.0, 18.0), (5.0, 25.0), (20.0, 35.0))
DEFAULT_OPEN_ROAD_KMH = 50.0
# OSRM's table service refuses more than its max-table-size (100 by default) points.
OSRM_MAX_POINTS = 100


class TravelTimes(Protocol):
    def matrix(self, origins: Sequence[Point], destinations: Sequence[Point]) -> list[list[float]]:
        """Seconds from each origin (rows) to each destination (columns)."""
        ...


@dataclass(frozen=True)
class GreatCircle:
    """Distance on the sphere times ``detour_factor``, at the speed of its band."""

    detour_factor: float = 1.3
    speed_bands: tuple[tuple[float, float], ...] = DEFAULT_SPEED_BANDS
    open_road_kmh: float = DEFAULT_OPEN_ROAD_KMH

    def seconds(self, a: Point, b: Point) -> float:
        km = haversine_m(a.lat, a.lon, b.lat, b.lon) / 1000.0
        speed = next((kmh for limit, kmh in self.speed_bands if km <= limit), self.open_road_kmh)
        return km * self.detour_factor / speed * 3600.0

    def matrix(self, origins: Sequence[Point], destinations: Sequence[Point]) -> list[list[float]]:
        return [[self.seconds(a, b) for b in destinations] for a in origins]


class OsrmUnavailable(Exception):
    """The OSRM server did not answer a usable table."""


@dataclass(frozen=True)
class OsrmTable:
    """OSRM's table service: ``GET {base_url}/table/v1/driving/{lon,lat;...}``.

    One request per matrix (origins then destinations, named by index in ``sources``
    and ``destinations``). Any failure falls back to ``fallback`` and is logged.
    """

    base_url: str
    timeout: float = 2.0
    fallback: GreatCircle = GreatCircle()

    def matrix(self, origins: Sequence[Point], destinations: Sequence[Point]) -> list[list[float]]:
        if not origins or not destinations:
            return [[] for _ in origins]
        try:
            return self._table(origins, destinations)
        except OsrmUnavailable as exc:
            log.warning("OSRM table failed, using great-circle travel times: %s", exc)
            return self.fallback.matrix(origins, destinations)

    def _table(self, origins: Sequence[Point], destinations: Sequence[Point]) -> list[list[float]]:
        points = [*origins, *destinations]
        if len(points) > OSRM_MAX_POINTS:
            raise OsrmUnavailable(f"{len(points)} points is more than one table request takes")
        coordinates = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        sources = ";".join(str(i) for i in range(len(origins)))
        targets = ";".join(str(len(origins) + i) for i in range(len(destinations)))
        url = (
            f"{self.base_url.rstrip('/')}/table/v1/driving/{coordinates}"
            f"?annotations=duration&sources={sources}&destinations={targets}"
        )
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 - the operator's URL
                body: Any = json.loads(response.read())
        except (OSError, ValueError) as exc:  # timeouts, refused connections, HTTP errors, bad JSON
            raise OsrmUnavailable(str(exc) or type(exc).__name__) from exc
        if not isinstance(body, dict) or body.get("code") != "Ok":
            code = body.get("code") if isinstance(body, dict) else None
            raise OsrmUnavailable(f"OSRM answered code {code!r}")
        return _durations(body.get("durations"), origins, destinations, self.fallback)


def _durations(
    raw: Any, origins: Sequence[Point], destinations: Sequence[Point], fallback: GreatCircle
) -> list[list[float]]:
    if not isinstance(raw, list) or len(raw) != len(origins):
        raise OsrmUnavailable("the table's durations do not match the request")
    matrix: list[list[float]] = []
    for origin, row in zip(origins, raw, strict=True):
        if not isinstance(row, list) or len(row) != len(destinations):
            raise OsrmUnavailable("the table's durations do not match the request")
        # OSRM answers null for a pair it cannot route; that pair alone falls back.
        matrix.append(
            [
                float(value)
                if isinstance(value, int | float) and math.isfinite(value)
                else fallback.seconds(origin, destination)
                for value, destination in zip(row, destinations, strict=True)
            ]
        )
    return matrix


# Legs per matrix request: 2 x 45 points stays inside OSRM's default table size.
LEGS_PER_REQUEST = 45


def leg_seconds(travel: TravelTimes, legs: Sequence[tuple[Point, Point]]) -> list[float]:
    """Seconds for each (from, to) leg, in a few matrix requests (their diagonals)."""
    if isinstance(travel, GreatCircle):
        # Nothing to batch for: a matrix would compute 45 times the legs asked for.
        return [travel.seconds(a, b) for a, b in legs]
    seconds: list[float] = []
    for start in range(0, len(legs), LEGS_PER_REQUEST):
        chunk = legs[start : start + LEGS_PER_REQUEST]
        matrix = travel.matrix([a for a, _ in chunk], [b for _, b in chunk])
        seconds.extend(matrix[i][i] for i in range(len(chunk)))
    return seconds


def from_setting(value: str) -> TravelTimes:
    """``great-circle`` (the default, also for an empty value) or
    ``osrm+http://host:5000`` (``osrm+https://`` too)."""
    value = value.strip()
    if value in ("", GREAT_CIRCLE):
        return GreatCircle()
    if value.startswith(OSRM_SCHEME) and value[len(OSRM_SCHEME) :].startswith(
        ("http://", "https://")
    ):
        return OsrmTable(base_url=value[len(OSRM_SCHEME) :])
    raise ValueError(
        f"DOORSTEP_TRAVEL_TIMES must be {GREAT_CIRCLE!r} or osrm+http://host:port, not {value!r}"
    )
