"""Schemas shared by every resource: the error body and common field rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields


class ErrorSchema(Schema):
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Per-field messages, present for validation errors"}
    )


class UtcDateTime(fields.AwareDateTime):
    """An ISO-8601 time with an offset, loaded as UTC.

    Converting at the door is what makes the calendar's edges safe: year 1 with a
    positive offset, or 9999-12-31 with a negative one, has no UTC equivalent, and
    would otherwise overflow later (comparing, storing) as a 500.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError("this time is outside the range of the calendar") from exc
