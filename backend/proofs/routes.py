"""GET /api/v1/stops/<id>/proof: the evidence bundle of a stop."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from backend.auth.guard import require_roles
from backend.db.models import Stop
from backend.db.session import db_session
from backend.domain.stops import Role
from backend.errors import not_found
from backend.evidence.service import get_store
from backend.http import ApiBlueprint
from backend.proofs.bundle import build_bundle
from backend.proofs.document import render_proof_pdf
from backend.sync.routes import get_sealer

blp = ApiBlueprint("proofs", __name__, url_prefix="/api/v1/stops", description="Evidence bundles")


@blp.route("/<int:stop_id>/proof")
class StopProof(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(200, description="The evidence bundle (see docs/api.md#evidence-bundles)")
    @blp.alt_response(404, description="not_found")
    def get(self, stop_id: int) -> dict[str, Any]:
        """Everything the server holds about a stop's proof, verifiable offline.

        Save the body to a file and check it with ``doorstep verify FILE``: the digest is
        recomputed from the proof's fields and file hashes and the receipt's signature
        is checked; with ``--files`` the files' bytes are checked too.
        """
        session = db_session()
        stop = session.get(Stop, stop_id)
        if stop is None:
            raise not_found("stop")
        return build_bundle(
            session, stop, get_sealer().public_keys_b64(), request.host_url.rstrip("/")
        )


@blp.route("/<int:stop_id>/proof.pdf")
class StopProofDocument(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(200, description="application/pdf")
    @blp.alt_response(404, description="not_found")
    def get(self, stop_id: int) -> Response:
        """The proof-of-delivery document for the customer (PDF).

        Photos are re-encoded without metadata; the page carries the digest and the
        receipt that `doorstep verify` checks.
        """
        session = db_session()
        stop = session.get(Stop, stop_id)
        if stop is None:
            raise not_found("stop")
        bundle = build_bundle(
            session, stop, get_sealer().public_keys_b64(), request.host_url.rstrip("/")
        )
        verified = {f["sha256"] for f in bundle["files"] if f["verified"]}
        store = get_store()

        def file_bytes(sha256: str) -> bytes | None:
            if sha256 not in verified:
                return None
            return b"".join(store.open(stop.org_id, sha256))

        pdf = render_proof_pdf(bundle, file_bytes)
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="proof-{stop.order_number}.pdf"'
            },
        )
