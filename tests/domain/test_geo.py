from __future__ import annotations

import math

import pytest

from backend.domain.geo import (
    GeoFix,
    GeoOutcome,
    InvalidCoordinate,
    InvalidGeofence,
    check_geofence,
    geodesic_m,
    haversine_m,
    parse_geofence,
)

STOP = (47.668710, -122.384520)


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / 111_132.0,
        lon + east_m / (111_320.0 * math.cos(math.radians(lat))),
    )


def test_vincenty_matches_the_classic_flinders_peak_to_buninyong_distance() -> None:
    flinders = (-37 - 57 / 60 - 3.72030 / 3600, 144 + 25 / 60 + 29.52440 / 3600)
    buninyong = (-37 - 39 / 60 - 10.15610 / 3600, 143 + 55 / 60 + 35.38390 / 3600)
    assert geodesic_m(*flinders, *buninyong) == pytest.approx(54972.271, abs=0.01)


def test_short_urban_distances_agree_with_the_sphere_within_half_a_percent() -> None:
    there = _offset(*STOP, 300, 400)
    assert geodesic_m(*STOP, *there) == pytest.approx(haversine_m(*STOP, *there), rel=0.005)
    assert geodesic_m(*STOP, *there) == pytest.approx(500, rel=0.01)


def test_nearly_antipodal_points_do_not_crash() -> None:
    assert geodesic_m(0.0, 0.0, 0.5, 179.7) > 19_000_000


@pytest.mark.parametrize(("lat", "lon"), [(91, 0), (0, 181), (math.nan, 0), (0, math.inf)])
def test_impossible_coordinates_are_refused(lat: float, lon: float) -> None:
    with pytest.raises(InvalidCoordinate):
        geodesic_m(lat, lon, 0, 0)


def test_a_fix_needs_a_non_negative_accuracy() -> None:
    with pytest.raises(InvalidCoordinate):
        GeoFix(47.0, -122.0, -1.0)


def test_a_fix_at_the_door_is_inside() -> None:
    check = check_geofence(GeoFix(*_offset(*STOP, 10, 0), 5), *STOP, None, 150)
    assert check.outcome is GeoOutcome.INSIDE
    assert check.distance_m == pytest.approx(10, abs=0.5)


def test_a_fix_far_away_is_outside_even_allowing_for_its_accuracy() -> None:
    check = check_geofence(GeoFix(*_offset(*STOP, 400, 0), 30), *STOP, None, 150)
    assert check.outcome is GeoOutcome.OUTSIDE
    assert check.is_exception


def test_an_imprecise_fix_near_the_limit_is_uncertain() -> None:
    check = check_geofence(GeoFix(*_offset(*STOP, 140, 0), 50), *STOP, None, 150)
    assert check.outcome is GeoOutcome.UNCERTAIN


def test_no_fix_is_recorded_honestly() -> None:
    assert check_geofence(None, *STOP, None, 150).outcome is GeoOutcome.NO_FIX


def _square(half_m: float) -> list[list[list[float]]]:
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    ring = [list(reversed(_offset(*STOP, n, e))) for n, e in corners]
    return [[*ring, ring[0]]]


def test_inside_the_geofence_polygon_counts_as_zero_distance() -> None:
    check = check_geofence(GeoFix(*_offset(*STOP, 60, 60), 5), *STOP, _square(80), 10)
    assert check.inside_polygon is True
    assert check.distance_to_zone_m == 0
    assert check.outcome is GeoOutcome.INSIDE


def test_distance_outside_the_polygon_is_measured_to_its_edge_in_metres() -> None:
    check = check_geofence(GeoFix(*_offset(*STOP, 0, 200), 5), *STOP, _square(80), 50)
    assert check.inside_polygon is False
    assert check.distance_to_zone_m == pytest.approx(120, abs=2)
    assert check.outcome is GeoOutcome.OUTSIDE


@pytest.mark.parametrize(
    "coords",
    [
        [],
        [[[0, 0], [1, 0], [1, 1]]],
        [[[0, 0], [1, 0], [1, 1], [0, 1]]],
        [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
        [[[0, 0], [0, 95], [1, 1], [0, 0]]],
        "not a polygon",
    ],
)
def test_malformed_geofences_are_refused(coords: object) -> None:
    with pytest.raises(InvalidGeofence):
        parse_geofence(coords)
