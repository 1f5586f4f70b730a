"""Schemas shared by every resource: the error body and common field rules."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_app_context
from marshmallow import Schema, ValidationError, fields, post_dump

log = logging.getLogger(__name__)

# Dates and times in response bodies are already ISO-8601 text (UTC with "Z"); the
# response schemas document them as formatted strings and pass them through as they are.
DATE_TIME = {"format": "date-time", "example": "2026-11-24T16:00:00Z"}
DATE = {"format": "date", "example": "2026-11-24"}
# The body of a file response (a PDF, an image): documented as bytes, never dumped.
BINARY = {"type": "string", "format": "binary"}


class ErrorSchema(Schema):
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Per-field messages, present for validation errors"}
    )


class UndeclaredResponseField(AssertionError):
    """A view returned a key its response schema does not declare (tests only)."""


class ResponseSchema(Schema):
    """A response body's schema, for views that return plain dicts.

    flask-smorest dumps a view's dict through its response schema, and marshmallow
    dumps only the fields a schema declares: a key the view adds but the schema forgets
    would silently vanish from the response. Such keys are kept as they are, so the
    body is always what the view built; under test they fail loudly, so the
    documentation cannot drift from the body.
    """

    @post_dump(pass_original=True)
    def _keep_undeclared(self, data: dict[str, Any], original: Any, **_: Any) -> dict[str, Any]:
        if not isinstance(original, dict):
            return data
        undeclared = [key for key in original if key not in data and key not in self.fields]
        if undeclared:
            if has_app_context() and current_app.testing:
                raise UndeclaredResponseField(
                    f"{type(self).__name__} does not declare {sorted(undeclared)}"
                )
            log.error("%s does not declare %s", type(self).__name__, sorted(undeclared))
            data.update({key: original[key] for key in undeclared})
        return data


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
