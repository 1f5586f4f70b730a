"""The position a capture will record, in words the driver can judge before saving."""

from __future__ import annotations

from datetime import datetime

from driver_client.capture import Fix


def describe_fix(fix: Fix | None, now: datetime) -> str:
    """How precise and how old the fix is, or that there is none (saved honestly as such)."""
    if fix is None:
        return "No position fix: the delivery will be saved without a position."
    age = max(0, round((now - fix.fixed_at).total_seconds()))
    when = "just now" if age < 2 else f"{age} s ago"
    return f"Position within {fix.accuracy_m:.0f} m, {when}."
