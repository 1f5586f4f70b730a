"""Line charts drawn on the server as SVG text: no script, no stylesheet, no request to
anywhere else, so they render the same in a browser, in a saved page and in a mail.

Pure: values in, markup out. Every piece of text is escaped here, so the caller can
mark the result safe. Each chart carries a ``<title>`` and ``<desc>`` (named by
``aria-labelledby``), labelled axes, and a ``<title>`` on each point with its value in
words; a chart with nothing to draw says "No data" instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from backend.domain.promise import LEAD_MINUTES, PromiseTally

WIDTH, HEIGHT = 640, 220
# Room for the y axis labels on the left, the x labels and the legend below.
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 58
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
INK, GRID, MUTED = "#1f2933", "#d9dee3", "#52606d"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str
    # A dash pattern tells the lines apart without relying on colour.
    dash: str = ""


def _fmt(value: float, percent: bool, unit: str) -> str:
    if percent:
        return f"{value * 100:.1f}%"
    return f"{value:.1f}{unit}"


def _tick(value: float, percent: bool) -> str:
    """An axis value: short, the axis' label names the unit."""
    return f"{value * 100:.0f}%" if percent else f"{value:.1f}"


def _runs(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive drawn points: a day with no value breaks the line rather than being
    bridged as if it had been measured."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def line_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    percent: bool = False,
    unit: str = "",
) -> str:
    """One SVG line chart; ``x_labels`` and each series' ``values`` align one to one.

    Percentages (``percent``) are fractions drawn on a fixed 0-100% axis; other values
    on an axis from 0 to a little above the largest value.
    """
    measured = [v for s in series for v in s.values if v is not None]
    top = 1.0 if percent else max([*measured, 1.0]) * 1.1
    count = len(x_labels)

    def x_at(index: int) -> float:
        return LEFT + (PLOT_W * index / (count - 1) if count > 1 else PLOT_W / 2)

    def y_at(value: float) -> float:
        return TOP + PLOT_H * (1 - value / top)

    ids = f"{chart_id}-title {chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby={quoteattr(ids)} '
        f'font-family="sans-serif" font-size="11">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]
    # Horizontal grid with the y axis' values.
    for fraction in (0.0, 0.5, 1.0):
        y = y_at(top * fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(_tick(top * fraction, percent))}</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="{INK}"/>'
        f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" y2="{TOP + PLOT_H}" '
        f'stroke="{INK}"/>'
    )
    parts.append(
        f'<text x="12" y="{TOP + PLOT_H / 2:.1f}" text-anchor="middle" fill="{INK}" '
        f'transform="rotate(-90 12 {TOP + PLOT_H / 2:.1f})">{escape(y_label)}</text>'
    )
    # The first, middle and last day name the x axis; every point names its own day.
    # The ends are anchored inwards so their labels stay inside the picture.
    anchors: dict[int, str] = {}
    if count == 1:
        anchors = {0: "middle"}
    elif count > 1:
        anchors = {0: "start", count // 2: "middle", count - 1: "end"}
    for index, anchor in sorted(anchors.items()):
        parts.append(
            f'<text x="{x_at(index):.1f}" y="{TOP + PLOT_H + 16}" text-anchor="{anchor}" '
            f'fill="{MUTED}">{escape(x_labels[index])}</text>'
        )
    if not measured:
        parts.append(
            f'<text x="{LEFT + PLOT_W / 2:.1f}" y="{TOP + PLOT_H / 2:.1f}" '
            f'text-anchor="middle" fill="{MUTED}" font-size="14">No data</text>'
        )
    for number, line in enumerate(series):
        points = [
            (x_at(i), y_at(v)) if v is not None else None for i, v in enumerate(line.values[:count])
        ]
        dash = f' stroke-dasharray="{escape(line.dash)}"' if line.dash else ""
        colour = quoteattr(line.colour)
        for run in _runs(points):
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke={colour} stroke-width="2"{dash}/>'
            )
        for index, value in enumerate(line.values[:count]):
            if value is None:
                continue
            label = f"{line.name}, {x_labels[index]}: {_fmt(value, percent, unit)}"
            parts.append(
                f'<circle cx="{x_at(index):.1f}" cy="{y_at(value):.1f}" r="3" fill={colour}>'
                f"<title>{escape(label)}</title></circle>"
            )
        # The legend: a sample of the line and its name.
        lx = LEFT + number * 170
        ly = HEIGHT - 14
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke={colour} '
            f'stroke-width="2"{dash}/>'
            f'<text x="{lx + 30}" y="{ly}" fill="{INK}">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def promise_charts(
    days: Sequence[tuple[date, PromiseTally]], scope_name: str
) -> list[tuple[str, str]]:
    """The promise trend as three charts (on-time, first-attempt, ETA accuracy by lead
    time): (caption, SVG) pairs for the console's end-of-day page."""
    labels = [day.strftime("%d %b") for day, _ in days]
    span = f"{labels[0]} to {labels[-1]}" if labels else "no days"
    on_time = [tally.on_time_rate for _, tally in days]
    first = [tally.first_attempt_rate for _, tally in days]
    return [
        (
            "On time",
            line_chart(
                chart_id="trend-on-time",
                title=f"On-time rate per day, {scope_name}",
                desc=f"Share of deliveries inside the promised window, {span}; "
                f"{_measured_days(on_time)} of {len(days)} days measured.",
                x_labels=labels,
                series=[Series("On time", on_time, "#2f6f4f")],
                y_label="deliveries on time",
                percent=True,
            ),
        ),
        (
            "First-attempt success",
            line_chart(
                chart_id="trend-first-attempt",
                title=f"First-attempt success per day, {scope_name}",
                desc=f"Share of orders delivered at their first attempt, {span}; "
                f"{_measured_days(first)} of {len(days)} days measured.",
                x_labels=labels,
                series=[Series("First attempt", first, "#1f4e8c")],
                y_label="first attempts delivered",
                percent=True,
            ),
        ),
        (
            "ETA accuracy",
            line_chart(
                chart_id="trend-eta",
                title=f"ETA mean absolute error per day, {scope_name}",
                desc=f"Minutes between the ETA shown and the actual arrival, at "
                f"{', '.join(str(lead) for lead in LEAD_MINUTES)} minutes before it, {span}.",
                x_labels=labels,
                series=[
                    Series(f"{lead} min before", [t.eta_mae(lead) for _, t in days], colour, dash)
                    for lead, colour, dash in zip(
                        LEAD_MINUTES,
                        ("#8c2f1f", "#b36b00", "#5b3f8c"),
                        ("", "6 3", "2 2"),
                        strict=True,
                    )
                ],
                y_label="error (minutes)",
                unit=" min",
            ),
        ),
    ]


def _measured_days(values: Sequence[float | None]) -> int:
    return sum(value is not None for value in values)
