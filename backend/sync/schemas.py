"""The sync request and response, as documented in docs/sync-protocol.md.

Events are validated one by one by ``backend.domain.events.parse_event`` rather than
by marshmallow, because one bad event must be answered ``rejected`` on its own line
without failing the batch. The envelope is validated here.
"""

from __future__ import annotations

import math
import re

from marshmallow import Schema, ValidationError, fields, validate

from backend.domain.events import ChangeOp, EventResultStatus
from backend.domain.untrusted import INT64_MAX
from backend.schemas import ResponseSchema, UtcDateTime

MAX_EVENTS_PER_BATCH = 500


def _valid_cursor(cursor: str) -> None:
    # A cursor is a 64-bit sequence number as decimal digits; 19 digits can still
    # exceed 64 bits, and "$" in a pattern would let a trailing newline through.
    if not (re.fullmatch(r"[0-9]{1,19}", cursor) and int(cursor) <= INT64_MAX):
        raise ValidationError("a cursor is the string the server sent")


MAX_POSITIONS_PER_REQUEST = 20


def _finite(value: float) -> bool:
    return math.isfinite(value)


class PositionSchema(Schema):
    """One fix the device took during the shift."""

    lat = fields.Float(
        required=True, allow_nan=False, validate=[validate.Range(min=-90, max=90), _finite]
    )
    lon = fields.Float(
        required=True, allow_nan=False, validate=[validate.Range(min=-180, max=180), _finite]
    )
    accuracy_m = fields.Float(
        load_default=None,
        allow_nan=False,
        validate=[validate.Range(min=0, max=100_000), _finite],
        metadata={"description": "Radius of 68% confidence, metres (optional)"},
    )
    recorded_at = UtcDateTime(required=True)


class SyncRequestSchema(Schema):
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    cursor = fields.String(
        required=True,
        allow_none=True,
        validate=_valid_cursor,
        metadata={"description": "The cursor from the last response, or null for a snapshot"},
    )
    sent_at = UtcDateTime(
        load_default=None,
        metadata={"description": "The device clock when it sent the request (clock skew)"},
    )
    events = fields.List(
        fields.Dict(),
        load_default=list,
        metadata={"description": f"At most {MAX_EVENTS_PER_BATCH} door events"},
    )
    positions = fields.List(
        fields.Nested(PositionSchema),
        load_default=list,
        validate=validate.Length(max=MAX_POSITIONS_PER_REQUEST),
        metadata={
            "description": f"At most {MAX_POSITIONS_PER_REQUEST} recent fixes taken during the "
            "shift (optional); fixes outside the shift are dropped (docs/sync-protocol.md)"
        },
    )
    pull_limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))
    outbox_drained = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true when events holds every event the device had waiting; "
            "an event recorded before such a request that arrives later is flagged "
            "backdated"
        },
    )
    app_version = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The driver app's version, shown to admins (optional)"},
    )
    pending_events = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=1_000_000),
        metadata={
            "description": "How many events the device still holds after this request "
            "(optional): what it still owes, shown to admins"
        },
    )


class EventResultSchema(Schema):
    id = fields.String(required=True, allow_none=True)
    status = fields.String(
        required=True, metadata={"enum": [status.value for status in EventResultStatus]}
    )
    code = fields.String(metadata={"description": "Why, for rejected and conflict"})
    message = fields.String()
    field = fields.String()
    original_status = fields.String(metadata={"description": "For duplicates"})
    stop_status = fields.String()
    receipt = fields.Dict(metadata={"description": "For deliveries: the signed receipt"})


class ChangeSchema(Schema):
    seq = fields.Integer(required=True)
    op = fields.String(required=True, metadata={"enum": [op.value for op in ChangeOp]})
    stop_id = fields.Integer(required=True)
    stop = fields.Dict(metadata={"description": "The whole stop, for upserts"})


class UploadSchema(Schema):
    sha256 = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    method = fields.String(required=True)
    url = fields.String(required=True)
    headers = fields.Dict(required=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields")
    expires_at = fields.String()
    complete_url = fields.String()


class ConflictSchema(Schema):
    id = fields.Integer(required=True)
    stop_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    event_ids = fields.List(fields.String(), required=True)
    detail = fields.String(required=True)
    status = fields.String(required=True)


class SyncResponseSchema(Schema):
    results = fields.List(fields.Nested(EventResultSchema), required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    cursor = fields.String(required=True)
    has_more = fields.Boolean(required=True)
    uploads = fields.List(fields.Nested(UploadSchema), required=True)
    conflicts = fields.List(fields.Nested(ConflictSchema), required=True)
    server_time = fields.String(required=True)
    service_date = fields.String(
        required=True,
        metadata={
            "format": "date",
            "description": "the driver's day (the organization's today): the device lists "
            "only stops of this date; when it changes, the device starts the new day with "
            "a snapshot (cursor null)",
        },
    )
    time_zone = fields.String(
        required=True,
        metadata={
            "description": "the organization's time zone (IANA name, e.g. America/Los_Angeles):"
            " the device shows times and windows in it"
        },
    )
    snapshot = fields.Boolean(
        required=True,
        metadata={
            "description": "true when changes is the whole day (the request's cursor was "
            "null): the device replaces its stops with them"
        },
    )


class ReceiptKeysSchema(ResponseSchema):
    """The public keys that verify proof receipts."""

    alg = fields.String(required=True, metadata={"enum": ["Ed25519"]})
    keys = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "key id to Ed25519 public key (base64)"},
    )
    pdf_certificates = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "key id to the PEM X.509 certificate that signs proof PDFs"},
    )
