"""The admin API's bodies for organization settings, depots and devices.

Types are checked here; what a valid value is (a time zone that exists, a threshold
in range, a location on the map) is the services' rule, so the console and the CLI
get the same answers.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from backend.manifests.schemas import ProofPolicySchema
from backend.schemas import DATE_TIME, ResponseSchema


class ProofPolicyInSchema(Schema):
    signature = fields.Raw()
    photo = fields.Raw()
    min_photos = fields.Raw()
    age_check = fields.Raw()
    parcel_scan = fields.Raw()


class SettingsChangeSchema(Schema):
    """Any of the settings; those left out stay as they are."""

    timezone = fields.Raw(metadata={"description": "IANA time zone, e.g. America/Los_Angeles"})
    geofence_threshold_m = fields.Raw(metadata={"description": "metres, 10 to 5000"})
    default_proof_policy = fields.Nested(
        ProofPolicyInSchema, metadata={"description": "for new stops whose row names none"}
    )
    evidence_retention_days = fields.Raw(metadata={"description": "days, 1 to 3650"})
    tracking_page_name = fields.Raw()
    tracking_logo_url = fields.Raw(metadata={"description": "https URL, or empty"})
    notification_sender_name = fields.Raw()
    notification_sender_email = fields.Raw()
    notification_sender_phone = fields.Raw()
    quiet_hours_start = fields.Raw(allow_none=True, metadata={"description": "HH:MM or null"})
    quiet_hours_end = fields.Raw(allow_none=True, metadata={"description": "HH:MM or null"})
    require_staff_totp = fields.Raw(
        metadata={"description": "console staff must sign in with a TOTP code too"}
    )
    arriving_soon_minutes = fields.Raw(
        metadata={"description": "minutes of ETA that make 'arriving soon', 5 to 120"}
    )
    tracking_show_photo = fields.Raw(
        metadata={"description": "the tracking page shows the delivery photo"}
    )
    delivery_weekdays = fields.Raw(
        metadata={"description": 'days delivered, e.g. ["mon", "tue"] (mon..sun)'}
    )


class SettingsLinksSchema(Schema):
    webhooks = fields.String(required=True, metadata={"description": "the webhook endpoints"})
    versions = fields.String(required=True)


class SettingsSchema(ResponseSchema):
    version = fields.Integer(required=True, metadata={"description": "0: never changed"})
    timezone = fields.String(required=True)
    geofence_threshold_m = fields.Integer(required=True)
    default_proof_policy = fields.Nested(ProofPolicySchema, required=True)
    evidence_retention_days = fields.Integer(required=True)
    tracking_page_name = fields.String(required=True)
    tracking_logo_url = fields.String(required=True)
    notification_sender_name = fields.String(required=True)
    notification_sender_email = fields.String(required=True)
    notification_sender_phone = fields.String(required=True)
    quiet_hours_start = fields.String(required=True, allow_none=True)
    quiet_hours_end = fields.String(required=True, allow_none=True)
    require_staff_totp = fields.Boolean(required=True)
    arriving_soon_minutes = fields.Integer(required=True)
    tracking_show_photo = fields.Boolean(required=True)
    delivery_weekdays = fields.List(fields.String(), required=True)
    links = fields.Nested(SettingsLinksSchema, required=True)


class SettingsVersionSchema(ResponseSchema):
    version = fields.Integer(required=True)
    changed_at = fields.String(required=True, metadata=DATE_TIME)
    changed_by = fields.String(required=True)
    settings = fields.Dict(required=True, metadata={"description": "the whole settings"})


class SettingsVersionsSchema(ResponseSchema):
    items = fields.List(fields.Nested(SettingsVersionSchema), required=True)


class DepotInSchema(Schema):
    name = fields.Raw(metadata={"description": "unique in the organization"})
    address = fields.Raw()
    lat = fields.Raw(metadata={"description": "-90 to 90"})
    lon = fields.Raw(metadata={"description": "-180 to 180"})
    timezone = fields.Raw(metadata={"description": "IANA time zone"})


class DepotSchema(ResponseSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    timezone = fields.String(required=True)
    retired_at = fields.String(
        required=True, allow_none=True, metadata={**DATE_TIME, "description": "null: in service"}
    )


class DepotsSchema(ResponseSchema):
    items = fields.List(fields.Nested(DepotSchema), required=True)


class DeviceSchema(ResponseSchema):
    id = fields.Integer(required=True)
    device_id = fields.String(required=True, metadata={"description": "the id the app chose"})
    driver = fields.String(required=True, allow_none=True)
    first_seen_at = fields.String(required=True, metadata=DATE_TIME)
    last_seen_at = fields.String(required=True, metadata=DATE_TIME)
    last_sync_at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    app_version = fields.String(required=True, allow_none=True)
    events_owed = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "events the app said it still held (null: never said)"},
    )
    files_owed = fields.Integer(
        required=True, metadata={"description": "files its events cite, not yet verified"}
    )
    revoked_at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)


class DevicesSchema(ResponseSchema):
    items = fields.List(fields.Nested(DeviceSchema), required=True)
