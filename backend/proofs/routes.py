"""A stop's proof: the evidence bundle, the customer's PDF and the map."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask.views import MethodView

from backend.auth.guard import require_roles
from backend.db.session import db_session
from backend.domain.roles import Role
from backend.http import ApiBlueprint, attachment
from backend.proofs import service
from backend.proofs.schemas import ProofBundleSchema
from backend.schemas import BINARY, ErrorSchema
from backend.wiring import evidence_store, proof_sealer

blp = ApiBlueprint("proofs", __name__, url_prefix="/api/v1/stops", description="Evidence bundles")


@blp.route("/<int:stop_id>/proof")
class StopProof(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(
        200, ProofBundleSchema, description="The evidence bundle (see docs/api.md#evidence-bundles)"
    )
    @blp.alt_response(404, schema=ErrorSchema, description="not_found")
    def get(self, stop_id: int) -> Response:
        """Everything the server holds about a stop's proof, verifiable offline.

        Save the body to a file and check it with ``doorstep verify FILE``: the digest is
        recomputed from the proof's fields and file hashes and the receipt's signature
        is checked; with ``--files`` the files' bytes are checked too.
        """
        session = db_session()
        # Encoded as built: the schema documents the bundle, dumping it could alter what
        # the digest covers.
        return jsonify(
            service.stop_bundle(
                session, service.find_stop(session, stop_id), proof_sealer(), request.host_url
            )
        )


@blp.route("/<int:stop_id>/proof.pdf")
class StopProofDocument(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(
        200,
        BINARY,
        content_type="application/pdf",
        description="The proof-of-delivery document, with proof.json attached",
    )
    @blp.alt_response(404, schema=ErrorSchema, description="not_found")
    def get(self, stop_id: int) -> Response:
        """The proof-of-delivery document for the customer (PDF).

        Photos are re-encoded without metadata; the page carries the digest and the
        receipt, and a ``proof.json`` attachment that ``doorstep verify`` checks.
        """
        session = db_session()
        stop = service.find_stop(session, stop_id)
        pdf = service.proof_pdf(session, stop, evidence_store(), proof_sealer(), request.host_url)
        return attachment(pdf, "application/pdf", service.pdf_filename(stop))


@blp.route("/<int:stop_id>/map.svg")
class ProofMap(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(
        200,
        BINARY,
        content_type="image/svg+xml",
        description="The stop, its geofence and where the proof was captured",
    )
    def get(self, stop_id: int) -> Response:
        """Where the proof was captured against the stop and its geofence, as SVG."""
        session = db_session()
        svg = service.proof_map_svg(session, service.find_stop(session, stop_id))
        return Response(svg, mimetype="image/svg+xml")
