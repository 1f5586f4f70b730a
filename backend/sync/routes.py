"""POST /api/v1/sync, and the keys that verify proof receipts."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView

from backend import clock
from backend.auth.guard import current_principal, require_roles
from backend.db.session import db_session
from backend.domain.roles import Role
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema
from backend.sync import service
from backend.sync.schemas import ReceiptKeysSchema, SyncRequestSchema, SyncResponseSchema
from backend.wiring import evidence_store, proof_sealer, travel_times

blp = ApiBlueprint("sync", __name__, url_prefix="/api/v1", description="Offline sync")


@blp.route("/sync")
class Sync(MethodView):
    @require_roles(Role.DRIVER)
    @blp.arguments(SyncRequestSchema)
    @blp.response(200, SyncResponseSchema)
    @blp.alt_response(
        403,
        schema=ErrorSchema,
        description="device_mismatch: device_id is not the logged-in device",
    )
    @blp.alt_response(413, schema=ErrorSchema, description="batch_too_large, payload_too_large")
    def post(self, body: dict[str, Any]) -> Response:
        """Push door events and pull plan changes in one round trip.

        Every event gets its own result (applied, duplicate, conflict or rejected with a
        code); the response also carries the plan changes after ``cursor``, the new
        cursor, and the evidence files the server still needs with where to upload
        them. See docs/sync-protocol.md.
        """
        principal = current_principal()
        session = db_session()
        ctx = service.SyncContext(
            principal=principal,
            store=evidence_store(),
            sealer=proof_sealer(),
            api_base=request.host_url.rstrip("/"),
            now=clock.now(),
            travel=travel_times(),
        )
        # Encoded directly: SyncResponseSchema documents the body, but running 150
        # results back through marshmallow would cost more than the rest of the request.
        return jsonify(service.run_sync(session, ctx, body))


@blp.route("/receipt-keys")
class ReceiptKeys(MethodView):
    @blp.response(200, ReceiptKeysSchema)
    def get(self) -> dict[str, Any]:
        """Public keys that verify proof receipts, and the certificates that sign proof
        PDFs (PAdES); save the body and pass it to `doorstep verify --keys`."""
        sealer = proof_sealer()
        return {
            "alg": "Ed25519",
            "keys": sealer.public_keys_b64(),
            "pdf_certificates": sealer.pdf_certificates_pem(),
        }
