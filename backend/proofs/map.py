"""An SVG map of where a proof was captured, drawn with no outside tile server.

The stop's point, its geofence, the device's fix with its accuracy circle, and the
distance in metres, in a local metric projection centred on the stop (the same
geometry the geofence check uses).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

SIZE = 480
MARGIN = 40
R_EARTH = 6371008.8


def _metres(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    x = math.radians(lon - lon0) * R_EARTH * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * R_EARTH
    return x, y


def render_map(
    stop_lat: float,
    stop_lon: float,
    geofence: Any | None,
    fix: dict[str, Any] | None,
    geo_check: dict[str, Any] | None,
    label: str,
) -> str:
    points = [(0.0, 0.0)]
    rings = []
    for ring in geofence or []:
        projected = [_metres(stop_lat, stop_lon, lat, lon) for lon, lat in ring]
        rings.append(projected)
        points.extend(projected)
    fix_xy = None
    accuracy = 0.0
    if fix:
        fix_xy = _metres(stop_lat, stop_lon, fix["lat"], fix["lon"])
        accuracy = float(fix.get("accuracy_m") or 0)
        points.extend(
            [
                (fix_xy[0] + dx, fix_xy[1] + dy)
                for dx, dy in ((accuracy, 0), (-accuracy, 0), (0, accuracy), (0, -accuracy))
            ]
        )
    half = max(50.0, *(abs(c) for p in points for c in p)) * 1.15
    scale = (SIZE / 2 - MARGIN) / half

    def at(x: float, y: float) -> tuple[float, float]:
        return SIZE / 2 + x * scale, SIZE / 2 - y * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE + 40}" '
        f'viewBox="0 0 {SIZE} {SIZE + 40}" font-family="sans-serif" font-size="13">',
        f'<rect width="{SIZE}" height="{SIZE}" fill="#f4f3ee" stroke="#bbb"/>',
    ]
    for ring in rings:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in ring))
        parts.append(
            f'<polygon points="{path}" fill="#2e7d32" fill-opacity="0.15" '
            'stroke="#2e7d32" stroke-width="2"/>'
        )
    sx, sy = at(0, 0)
    parts.append(f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="7" fill="#1a4f9e"/>')
    parts.append(f'<text x="{sx + 10:.1f}" y="{sy - 10:.1f}" fill="#1a4f9e">stop</text>')
    if fix_xy is not None:
        fx, fy = at(*fix_xy)
        parts.append(
            f'<circle cx="{fx:.1f}" cy="{fy:.1f}" r="{max(accuracy * scale, 2):.1f}" '
            'fill="#c62828" fill-opacity="0.15" stroke="#c62828" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{fx:.1f}" y2="{fy:.1f}" '
            'stroke="#555" stroke-dasharray="2 3"/>'
        )
        parts.append(f'<circle cx="{fx:.1f}" cy="{fy:.1f}" r="5" fill="#c62828"/>')
        distance = (geo_check or {}).get("distance_m")
        text = f"{distance:.0f} m from the stop" if distance is not None else "proof"
        parts.append(
            f'<text x="{fx + 8:.1f}" y="{fy + 16:.1f}" fill="#c62828">{escape(text)}</text>'
        )
    bar_m = _nice_bar(half)
    parts.append(
        f'<line x1="{MARGIN}" y1="{SIZE - 20}" x2="{MARGIN + bar_m * scale:.1f}" '
        f'y2="{SIZE - 20}" stroke="#333" stroke-width="3"/>'
    )
    parts.append(f'<text x="{MARGIN}" y="{SIZE - 28}">{bar_m:.0f} m</text>')
    outcome = (geo_check or {}).get("outcome", "no proof")
    caption = f"{label}: geo check {outcome}"
    if fix:
        caption += f", fix accuracy {accuracy:.0f} m"
    parts.append(f'<text x="10" y="{SIZE + 25}">{escape(caption)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_bar(half_extent_m: float) -> float:
    target = half_extent_m / 2
    for step in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if step >= target:
            return float(step)
    return float(round(target, -4))
