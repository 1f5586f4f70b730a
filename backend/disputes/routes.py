"""Customer service: search deliveries, the proof map, disputes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth.guard import current_principal, require_roles
from backend.db.session import db_session
from backend.disputes import service
from backend.disputes.schemas import (
    DeliveryMatchesSchema,
    DisputeListQuerySchema,
    DisputeListSchema,
    DisputeSchema,
    NoteSchema,
    OpenDisputeSchema,
    ResolveSchema,
    SearchQuerySchema,
)
from backend.domain.roles import Grant, Role
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema

blp = ApiBlueprint("disputes", __name__, url_prefix="/api/v1", description="Customer service")


@blp.route("/deliveries/search")
class Search(MethodView):
    @require_roles(Role.SUPPORT, Role.DISPATCHER)
    @blp.arguments(SearchQuerySchema, location="query")
    @blp.response(
        200, DeliveryMatchesSchema, description="Matching deliveries, newest first (at most 50)"
    )
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Find a delivery by order number or parcel barcode (exact), recipient or address
        (contains; matched literally, so % and _ are plain characters)."""
        return {"items": service.search(db_session(), query["q"])}


@blp.route("/disputes")
class Disputes(MethodView):
    @require_roles(Role.SUPPORT, Role.DISPATCHER)
    @blp.arguments(DisputeListQuerySchema, location="query")
    @blp.response(200, DisputeListSchema, description="Disputes, newest first")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Disputes, optionally by status."""
        items = service.list_disputes(db_session(), query.get("status"))
        return {"items": [item["dispute"] for item in items]}

    @require_roles(Role.SUPPORT)
    @blp.arguments(OpenDisputeSchema)
    @blp.response(
        201, DisputeSchema, description="The dispute; the stop's proof is now on legal hold"
    )
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Open a dispute on a delivery."""
        session = db_session()
        dispute = service.open_dispute(
            session,
            current_principal(),
            body["stop_id"],
            body["reason"],
            body["note"],
            body["customer_reference"],
        )
        return service.dispute_dict(session, dispute), 201


@blp.route("/disputes/<int:dispute_id>")
class DisputeResource(MethodView):
    @require_roles(Role.SUPPORT, Role.DISPATCHER)
    @blp.response(200, DisputeSchema, description="The dispute with its notes")
    def get(self, dispute_id: int) -> dict[str, Any]:
        """One dispute and its notes."""
        session = db_session()
        return service.dispute_dict(session, service.get_dispute(session, dispute_id))


@blp.route("/disputes/<int:dispute_id>/notes")
class DisputeNotes(MethodView):
    @require_roles(Role.SUPPORT)
    @blp.arguments(NoteSchema)
    @blp.response(201, DisputeSchema, description="The dispute with the new note")
    def post(self, body: dict[str, Any], dispute_id: int) -> tuple[dict[str, Any], int]:
        """Add a note to a dispute."""
        session = db_session()
        service.add_note(session, current_principal(), dispute_id, body["text"])
        return service.dispute_dict(session, service.get_dispute(session, dispute_id)), 201


@blp.route("/disputes/<int:dispute_id>/resolve")
class ResolveDispute(MethodView):
    @require_roles(Role.SUPPORT, grant=Grant.RESOLVE_DISPUTES)
    @blp.arguments(ResolveSchema)
    @blp.response(200, DisputeSchema, description="The settled dispute; the legal hold is lifted")
    @blp.alt_response(409, schema=ErrorSchema, description="dispute_closed")
    def post(self, body: dict[str, Any], dispute_id: int) -> dict[str, Any]:
        """Uphold (refund or redeliver) or reject (citing the evidence) a dispute."""
        session = db_session()
        dispute = service.resolve(
            session, current_principal(), dispute_id, service.Settlement(**body)
        )
        return service.dispute_dict(session, dispute)
