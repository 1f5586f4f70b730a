"""Where a proof was captured, measured against where the stop is.

Distances are geodesic metres on the WGS-84 ellipsoid (Vincenty's inverse formula,
falling back to a spherical great circle in the rare near-antipodal cases where it
does not converge), never degrees. Polygon distances are measured in a local
azimuthal equidistant projection centred on the stop, which is exact in distance
from the centre and well under a metre off across a delivery-sized area.

The rule (``check_geofence``): the *zone* is the stop's geofence polygon if it has
one, else the stop's point. ``distance_to_zone_m`` is 0 inside the polygon, else the
geodesic distance to it. With the fix's accuracy radius ``a`` and the organization's
threshold ``t``:

- ``outside`` when ``distance - a > t``: even the kindest reading of the fix is too far;
- ``inside`` when ``distance + a <= t``: even the harshest reading is close enough;
- ``uncertain`` otherwise: the fix is too imprecise to tell;
- ``no_fix`` when the device had no position at all.

Outside, uncertain and no-fix are exceptions for back office, never errors: the proof
is accepted and kept either way.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.validation import explain_validity

# WGS-84
_A = 6378137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)
_MEAN_RADIUS = 6371008.8


class InvalidCoordinate(ValueError):
    pass


class InvalidGeofence(ValueError):
    pass


class GeoOutcome(enum.StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"
    NO_FIX = "no_fix"


def check_coordinate(lat: float, lon: float) -> None:
    for name, value, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidCoordinate(f"{name} must be a number")
        if not math.isfinite(value):
            raise InvalidCoordinate(f"{name} must be finite")
        if not -limit <= value <= limit:
            raise InvalidCoordinate(f"{name} must be between -{limit:g} and {limit:g}")


@dataclass(frozen=True)
class GeoFix:
    lat: float
    lon: float
    accuracy_m: float
    fixed_at: datetime | None = None

    def __post_init__(self) -> None:
        check_coordinate(self.lat, self.lon)
        if not math.isfinite(self.accuracy_m) or self.accuracy_m < 0:
            raise InvalidCoordinate("accuracy_m must be a finite number >= 0")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _MEAN_RADIUS * math.asin(min(1.0, math.sqrt(h)))


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres on the WGS-84 ellipsoid (Vincenty inverse)."""
    check_coordinate(lat1, lon1)
    check_coordinate(lat2, lon2)
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    u1 = math.atan((1 - _F) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - _F) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-12:
            break
    else:
        return haversine_m(lat1, lon1, lat2, lon2)
    u_sq = cos2_alpha * (_A**2 - _B**2) / _B**2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return _B * big_a * (sigma - delta_sigma)


def _project(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """Azimuthal equidistant (spherical) projection centred on (lat0, lon0), in metres."""
    p0, p, dl = math.radians(lat0), math.radians(lat), math.radians(lon - lon0)
    cos_c = math.sin(p0) * math.sin(p) + math.cos(p0) * math.cos(p) * math.cos(dl)
    c = math.acos(max(-1.0, min(1.0, cos_c)))
    k = c / math.sin(c) if c > 1e-12 else 1.0
    x = _MEAN_RADIUS * k * math.cos(p) * math.sin(dl)
    y = _MEAN_RADIUS * k * (math.cos(p0) * math.sin(p) - math.sin(p0) * math.cos(p) * math.cos(dl))
    return x, y


def parse_geofence(coords: Any) -> list[list[tuple[float, float]]]:
    """Validate GeoJSON Polygon coordinates ``[[[lon, lat], ...], ...holes]``."""
    if not isinstance(coords, list) or not coords:
        raise InvalidGeofence("a geofence is a GeoJSON Polygon coordinates array")
    rings: list[list[tuple[float, float]]] = []
    for ring_index, ring in enumerate(coords):
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidGeofence(f"ring {ring_index} needs at least 4 positions")
        if len(ring) > 1000:
            raise InvalidGeofence(f"ring {ring_index} has more than 1000 positions")
        points: list[tuple[float, float]] = []
        for position in ring:
            if not isinstance(position, list | tuple) or len(position) != 2:
                raise InvalidGeofence("each position is [lon, lat]")
            lon, lat = position
            try:
                check_coordinate(lat, lon)
            except InvalidCoordinate as exc:
                raise InvalidGeofence(str(exc)) from exc
            points.append((float(lon), float(lat)))
        if points[0] != points[-1]:
            raise InvalidGeofence(f"ring {ring_index} must end where it starts")
        rings.append(points)
    lon0, lat0 = rings[0][0]
    polygon = _local_polygon(rings, lat0, lon0)
    if not polygon.is_valid:
        raise InvalidGeofence(f"the polygon is not valid: {explain_validity(polygon)}")
    if polygon.area <= 0:
        raise InvalidGeofence("the polygon has no area")
    return rings


def _local_polygon(
    rings: Sequence[Sequence[tuple[float, float]]], lat0: float, lon0: float
) -> Polygon:
    projected = [[_project(lat0, lon0, lat, lon) for lon, lat in ring] for ring in rings]
    return Polygon(projected[0], projected[1:])


@dataclass(frozen=True)
class GeoCheck:
    outcome: GeoOutcome
    distance_m: float | None
    distance_to_zone_m: float | None
    inside_polygon: bool | None
    accuracy_m: float | None
    threshold_m: float

    @property
    def is_exception(self) -> bool:
        return self.outcome is not GeoOutcome.INSIDE

    def to_dict(self) -> dict[str, Any]:
        def metres(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "outcome": self.outcome.value,
            "distance_m": metres(self.distance_m),
            "distance_to_zone_m": metres(self.distance_to_zone_m),
            "inside_polygon": self.inside_polygon,
            "accuracy_m": metres(self.accuracy_m),
            "threshold_m": metres(self.threshold_m),
        }


def check_geofence(
    fix: GeoFix | None,
    stop_lat: float,
    stop_lon: float,
    polygon: Any | None,
    threshold_m: float,
) -> GeoCheck:
    """Judge a geo-stamp against the stop (see the module docstring for the rule)."""
    if fix is None:
        return GeoCheck(GeoOutcome.NO_FIX, None, None, None, None, threshold_m)
    distance = geodesic_m(fix.lat, fix.lon, stop_lat, stop_lon)
    inside: bool | None = None
    to_zone = distance
    if polygon:
        rings = parse_geofence(polygon)
        shape = _local_polygon(rings, stop_lat, stop_lon)
        point = Point(_project(stop_lat, stop_lon, fix.lat, fix.lon))
        inside = bool(shape.covers(point))
        to_zone = 0.0 if inside else float(shape.exterior.distance(point))
    if to_zone - fix.accuracy_m > threshold_m:
        outcome = GeoOutcome.OUTSIDE
    elif to_zone + fix.accuracy_m <= threshold_m:
        outcome = GeoOutcome.INSIDE
    else:
        outcome = GeoOutcome.UNCERTAIN
    return GeoCheck(outcome, distance, to_zone, inside, fix.accuracy_m, threshold_m)
