"""The evidence bundle's shape (backend.proofs.bundle builds it; docs/api.md explains it).

The view returns the bundle as built, never dumped through these schemas: the proof's
digest covers its fields byte for byte, and ``doorstep verify`` recomputes it. The
schemas document the body; the free-form parts (a proof's fields, an event's payload)
are described in docs/api.md#evidence-bundles.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from backend.manifests.schemas import StopSchema
from backend.schemas import DATE_TIME
from backend.sync.schemas import ConflictSchema

SHA256 = {"pattern": "^[0-9a-f]{64}$"}


class BundleStopSchema(StopSchema):
    driver = fields.String(
        required=True, allow_none=True, metadata={"description": "null: on no manifest"}
    )


INVALID_REASON = {
    "enum": ["not_an_image", "image_too_large"],
    "description": "the bytes match the hash but are not the image declared: kept as "
    "evidence, never counted as proof",
}


class FileRefSchema(Schema):
    sha256 = fields.String(required=True, metadata=SHA256)
    kind = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    # Only on a proof's file that turned out invalid.
    invalid_reason = fields.String(metadata=INVALID_REASON)


class BundleFileSchema(FileRefSchema):
    verified = fields.Boolean(
        required=True,
        metadata={"description": "the server holds it, and it is the image declared"},
    )
    invalid_reason = fields.String(
        required=True,
        allow_none=True,
        # OpenAPI 3.0: a nullable enum lists null among its values.
        metadata={**INVALID_REASON, "enum": [*INVALID_REASON["enum"], None]},
    )
    purged = fields.Boolean(required=True, metadata={"description": "deleted by retention"})
    url = fields.String(required=True, metadata={"description": "where to download it"})


class ReceiptSchema(Schema):
    alg = fields.String(required=True, metadata={"enum": ["Ed25519"]})
    kid = fields.String(required=True)
    digest = fields.String(required=True, metadata=SHA256)
    issued_at = fields.String(required=True, metadata=DATE_TIME)
    stop_id = fields.Integer(required=True)
    event_ids = fields.List(fields.String(), required=True)
    signature = fields.String(required=True, metadata={"description": "base64url Ed25519"})


class ProofSchema(Schema):
    fields_ = fields.Dict(
        data_key="fields",
        required=True,
        metadata={
            "description": "what the digest covers: what happened, where, when, by whom;"
            " from digest version 2 (digest_version: 2) also each photo's capture stamp"
            " (photos: [{sha256, taken_at, geo}]); without digest_version, version 1"
        },
    )
    files = fields.List(fields.Nested(FileRefSchema), required=True)
    digest = fields.String(required=True, metadata=SHA256)
    geo_check = fields.Dict(
        required=True, allow_none=True, metadata={"description": "the geofence check's result"}
    )


class ProofWithReceiptSchema(Schema):
    proof = fields.Nested(ProofSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)


class BundleEventSchema(Schema):
    """A report the server holds for the stop, as received."""

    id = fields.String(required=True)
    stop_id = fields.Integer(required=True)
    type = fields.String(required=True)
    device_id = fields.String(required=True)
    driver_id = fields.Integer(required=True)
    recorded_at = fields.String(required=True, metadata=DATE_TIME)
    received_at = fields.String(required=True, metadata=DATE_TIME)
    hlc = fields.String(required=True)
    base_version = fields.Integer(required=True)
    payload = fields.Dict(required=True)
    evidence = fields.List(fields.Nested(FileRefSchema), required=True)
    clock_skew_ms = fields.Integer(required=True, allow_none=True)
    result = fields.String(required=True)
    result_code = fields.String(required=True)
    device_revoked_in_between = fields.Boolean(
        required=True,
        metadata={
            "description": "recorded before its device was revoked, received after a "
            "fresh login (it still counts)"
        },
    )


class BundleDeviceSchema(Schema):
    device_id = fields.String(required=True)
    revoked_at = fields.String(
        required=True, allow_none=True, metadata={**DATE_TIME, "description": "last revoked"}
    )


class ProofBundleSchema(Schema):
    bundle_version = fields.Integer(required=True, metadata={"enum": [1]})
    stop = fields.Nested(BundleStopSchema, required=True)
    status = fields.String(required=True)
    evidence_pending = fields.Boolean(required=True)
    proof = fields.Nested(
        ProofSchema, metadata={"description": "the delivery the stop's status rests on, if any"}
    )
    receipt = fields.Nested(ReceiptSchema, metadata={"description": "present with proof"})
    other_proofs = fields.List(fields.Nested(ProofWithReceiptSchema), required=True)
    events = fields.List(fields.Nested(BundleEventSchema), required=True)
    files = fields.List(fields.Nested(BundleFileSchema), required=True)
    # Built by the same conflict_to_dict as a sync answer's, so the same schema.
    conflicts = fields.List(fields.Nested(ConflictSchema), required=True)
    devices = fields.List(fields.Nested(BundleDeviceSchema), required=True)
    public_keys = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "key id to Ed25519 public key (base64); pin with --keys"},
    )
