from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.domain.geo import InvalidGeofence, parse_geofence
from backend.domain.org_settings import EMAIL
from backend.domain.stops import StopStatus
from backend.manifests.schemas import DATE, StopSchema
from backend.schemas import UtcDateTime


class ImportQuerySchema(Schema):
    date = fields.Date(metadata={"description": "Service date (required for CSV)"})


class ImportJsonSchema(Schema):
    service_date = fields.Date(required=True)
    stops = fields.List(fields.Raw(), required=True, metadata={"description": "Stop rows"})


class ImportedStopSchema(Schema):
    id = fields.Integer(required=True)
    order_number = fields.String(required=True)
    driver = fields.String(allow_none=True)
    sequence = fields.Integer(allow_none=True)


class ImportResultSchema(Schema):
    service_date = fields.Date(required=True)
    created = fields.Integer(required=True)
    stops = fields.List(fields.Nested(ImportedStopSchema), required=True)


class StopListQuerySchema(Schema):
    date = fields.Date(required=True)
    driver = fields.String(validate=validate.Length(min=1, max=150))
    status = fields.String(validate=validate.OneOf([s.value for s in StopStatus]))
    unassigned = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class PromisedWindowSchema(Schema):
    start = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    end = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class PlannedStopSchema(StopSchema):
    driver = fields.String(allow_none=True, required=True)
    service_date = fields.String(required=True, metadata=DATE)
    cancel_reason = fields.String(required=True)
    promised_window = fields.Nested(
        PromisedWindowSchema,
        required=True,
        metadata={"description": "The window promised to the customer (on-time is judged by it)"},
    )
    recipient_email = fields.String(required=True)


class StopListSchema(Schema):
    items = fields.List(fields.Nested(PlannedStopSchema), required=True)
    total = fields.Integer(required=True)


class ProofPolicyChangeSchema(Schema):
    """The policy flags to change; flags not named keep their value."""

    signature = fields.Boolean()
    photo = fields.Boolean()
    min_photos = fields.Integer(validate=validate.Range(min=0, max=10))
    age_check = fields.Boolean()
    parcel_scan = fields.Boolean()


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _email_or_empty(value: str) -> None:
    if value and not EMAIL.fullmatch(value):
        raise ValidationError("must be an e-mail address (or empty)")


class StopChangeSchema(Schema):
    """Fields a dispatcher may change; all optional, at least one required."""

    address = fields.String(validate=validate.Length(min=1, max=500))
    lat = fields.Float(validate=[validate.Range(min=-90, max=90), _finite], allow_nan=False)
    lon = fields.Float(validate=[validate.Range(min=-180, max=180), _finite], allow_nan=False)
    # The shape is documented; that the ring closes and the polygon is valid, parse_geofence checks.
    geofence = fields.Raw(
        allow_none=True,
        metadata={
            "description": "GeoJSON Polygon coordinates [[[lon, lat], ...], ...holes], or null",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "array",
                "minItems": 4,
                "maxItems": 1000,
                "items": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": {"type": "number"},
                },
            },
        },
    )
    window_start = UtcDateTime(allow_none=True)
    window_end = UtcDateTime(allow_none=True)
    recipient_name = fields.String(validate=validate.Length(max=200))
    recipient_phone = fields.String(validate=validate.Length(max=40))
    recipient_email = fields.String(validate=[validate.Length(max=254), _email_or_empty])
    promised_start = UtcDateTime(allow_none=True)
    promised_end = UtcDateTime(allow_none=True)
    instructions = fields.String(validate=validate.Length(max=2000))
    proof_policy = fields.Nested(ProofPolicyChangeSchema)

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("change at least one field", "_schema")
        if ("lat" in data) != ("lon" in data):
            raise ValidationError("change lat and lon together", "lat")
        if data.get("geofence") is not None:
            try:
                parse_geofence(data["geofence"])
            except InvalidGeofence as exc:
                raise ValidationError(str(exc), "geofence") from exc


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class AssignSchema(Schema):
    stop_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(max=2000),
    )


class ManifestsQuerySchema(Schema):
    date = fields.Date(required=True)


class ManifestSummarySchema(Schema):
    id = fields.Integer(required=True)
    driver = fields.String(required=True)
    service_date = fields.String(required=True, metadata=DATE)
    revision = fields.Integer(required=True)
    stops = fields.Integer(required=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ManifestListSchema(Schema):
    items = fields.List(fields.Nested(ManifestSummarySchema), required=True)
