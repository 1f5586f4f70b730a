"""Schemas that document the manifest and stop bodies (see serialize.py for the encoder)."""

from __future__ import annotations

from marshmallow import Schema, fields


class LocationSchema(Schema):
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)


# Dates and times are documented as formatted strings: the bodies are encoded by
# serialize.py (UTC, ISO-8601 with "Z"), and these schemas describe that output.
DATE_TIME = {"format": "date-time", "example": "2026-11-24T16:00:00Z"}
DATE = {"format": "date", "example": "2026-11-24"}


class TimeWindowSchema(Schema):
    start = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    end = fields.String(required=True, allow_none=True, metadata=DATE_TIME)


class RecipientSchema(Schema):
    name = fields.String(required=True)
    phone = fields.String(required=True)


class ParcelSchema(Schema):
    barcode = fields.String(required=True)
    description = fields.String(required=True)


class ProofPolicySchema(Schema):
    signature = fields.Boolean(required=True)
    photo = fields.Boolean(required=True)
    min_photos = fields.Integer(required=True)
    age_check = fields.Boolean(required=True)
    parcel_scan = fields.Boolean(required=True)


class StopSchema(Schema):
    id = fields.Integer(required=True)
    order_number = fields.String(required=True)
    service_date = fields.String(
        required=True, metadata={**DATE, "description": "the day the stop is planned for"}
    )
    sequence = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    address = fields.String(required=True)
    location = fields.Nested(LocationSchema, required=True)
    geofence = fields.Raw(
        allow_none=True, metadata={"description": "GeoJSON Polygon coordinates, or null"}
    )
    time_window = fields.Nested(TimeWindowSchema, required=True)
    recipient = fields.Nested(RecipientSchema, required=True)
    parcels = fields.List(fields.Nested(ParcelSchema), required=True)
    proof_policy = fields.Nested(ProofPolicySchema, required=True)
    instructions = fields.String(required=True)


class ManifestSchema(Schema):
    id = fields.Integer(required=True)
    driver = fields.String(required=True, metadata={"description": "driver's username"})
    service_date = fields.String(required=True, metadata=DATE)
    revision = fields.Integer(required=True)
    stops = fields.List(fields.Nested(StopSchema), required=True)


class ManifestQuerySchema(Schema):
    date = fields.Date(metadata={"description": "service date, YYYY-MM-DD; default today"})
