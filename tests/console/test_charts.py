"""The SVG line chart: well-formed, escaped, and drawn from the values it is given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from backend.console.charts import Series, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _chart(values: list[float | None], **kwargs: str) -> ET.Element:
    arguments = {
        "chart_id": "c",
        "title": "On time",
        "desc": "per day",
        "y_label": "share",
        **kwargs,
    }
    # The chart module's own output: nothing untrusted is parsed.
    return ET.fromstring(  # noqa: S314
        line_chart(
            x_labels=[f"d{n}" for n in range(len(values))],
            series=[Series("Rate", values, "#123456")],
            percent=True,
            **arguments,
        )
    )


def test_every_text_is_escaped() -> None:
    chart = _chart([0.5], title='North <&> "South"', desc="</desc><script>x</script>")
    assert chart.findtext(f"{SVG}title") == 'North <&> "South"'
    assert chart.findtext(f"{SVG}desc") == "</desc><script>x</script>"
    assert chart.find(f".//{SVG}script") is None


def test_a_day_without_a_value_breaks_the_line() -> None:
    chart = _chart([0.5, 1.0, None, 0.25, None])
    lines = [p.get("points", "").split() for p in chart.iter(f"{SVG}polyline")]
    assert [len(points) for points in lines] == [2, 1]
    assert len(list(chart.iter(f"{SVG}circle"))) == 3


def test_higher_values_are_drawn_higher() -> None:
    chart = _chart([0.0, 1.0])
    low, high = (float(c.get("cy", "0")) for c in chart.iter(f"{SVG}circle"))
    # SVG's y grows downwards.
    assert high < low
    assert [c.findtext(f"{SVG}title") for c in chart.iter(f"{SVG}circle")] == [
        "Rate, d0: 0.0%",
        "Rate, d1: 100.0%",
    ]


def test_no_values_say_no_data() -> None:
    chart = _chart([None, None])
    assert "No data" in [t.text for t in chart.iter(f"{SVG}text")]
    assert list(chart.iter(f"{SVG}circle")) == []


def test_a_chart_of_one_day_or_none_still_draws() -> None:
    one = _chart([0.5])
    assert [c.findtext(f"{SVG}title") for c in one.iter(f"{SVG}circle")] == ["Rate, d0: 50.0%"]
    assert "No data" in [t.text for t in _chart([]).iter(f"{SVG}text")]
