"""Evidence file uploads (local store), upload confirmation (S3) and downloads."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields

from backend.auth.guard import require_roles
from backend.db.session import db_session
from backend.domain.events import MAX_FILE_BYTES
from backend.domain.roles import Role
from backend.errors import ApiError
from backend.evidence import service
from backend.evidence.storage import ALLOWED_CONTENT_TYPES, UploadOffsetMismatch
from backend.http import ApiBlueprint, accepts, stream_file
from backend.schemas import BINARY, ErrorSchema
from backend.wiring import evidence_store

blp = ApiBlueprint(
    "evidence", __name__, url_prefix="/api/v1/evidence", description="Evidence files"
)


class FileStateSchema(Schema):
    sha256 = fields.String(required=True)
    verified = fields.Boolean(required=True)
    # Bytes the server holds of an unfinished upload (202 answers only).
    offset = fields.Integer()


class UploadStateSchema(Schema):
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    verified = fields.Boolean(required=True)
    offset = fields.Integer(required=True, metadata={"description": "resume the PUT from here"})


# Also sent as a header, as the tus protocol names it, for clients that read only headers.
UPLOAD_OFFSET = "Upload-Offset"


REFUSED_IMAGE = (
    "image_too_large: more than 40 megapixels (not decoded); not_an_image: the bytes do "
    "not decode as the declared type. Either way the bytes are kept as evidence, marked "
    "invalid and never counted as proof"
)


@blp.route("/<string:sha256>")
class EvidenceFileResource(MethodView):
    @require_roles(Role.DRIVER)
    @accepts(*ALLOWED_CONTENT_TYPES)
    @blp.response(200, FileStateSchema)
    @blp.alt_response(
        404, schema=ErrorSchema, description="file_not_referenced: no event references this hash"
    )
    @blp.alt_response(
        202,
        schema=FileStateSchema,
        description="a Content-Range that does not end the file was kept",
    )
    @blp.alt_response(400, schema=ErrorSchema, description="invalid_content_range")
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="upload_direct_to_store: use the presigned target; upload_offset_mismatch:"
        " the range starts past the bytes held (errors.offset); upload_in_progress: another"
        " request is uploading this file",
    )
    @blp.alt_response(411, schema=ErrorSchema, description="length_required: send Content-Length")
    @blp.alt_response(
        422,
        schema=ErrorSchema,
        description="hash_mismatch, size_mismatch, content_type_mismatch; " + REFUSED_IMAGE,
    )
    def put(self, sha256: str) -> Any:
        """Upload the bytes of a file an event referenced (local store only), whole or
        from where a broken upload stopped (``Content-Range``, see ``GET .../upload``).

        The body is streamed to a partial file, and only once the file is complete and
        matches the size and SHA-256 the event declared is it published; a cut
        connection keeps the bytes received for a resume and leaves the file pending.
        The published bytes are then decoded once as their declared image type.
        Uploading a file the server already holds is a no-op.
        """
        # A file body may be as large as an event may declare its file, beyond the API's
        # limit for JSON bodies; Content-Range and the declared size bound it below.
        request.max_content_length = MAX_FILE_BYTES
        try:
            state = service.receive(
                db_session(),
                evidence_store(),
                sha256,
                request.mimetype,
                request.content_length,
                request.headers.get("Content-Range"),
                request.stream,
            )
        except UploadOffsetMismatch as exc:
            raise ApiError(
                409, exc.code, exc.message, {"offset": exc.offset}, {UPLOAD_OFFSET: str(exc.offset)}
            ) from exc
        if state.verified:
            return {"sha256": sha256, "verified": True}
        kept = {"sha256": sha256, "verified": False, "offset": state.offset}
        return kept, 202, {UPLOAD_OFFSET: str(state.offset)}

    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @blp.response(200, description="The file's bytes, with its content type")
    @blp.doc(
        responses={
            200: {"content": {kind: {"schema": BINARY} for kind in sorted(ALLOWED_CONTENT_TYPES)}}
        }
    )
    @blp.alt_response(
        404, schema=ErrorSchema, description="not_found, file_not_referenced, file_missing"
    )
    @blp.alt_response(410, schema=ErrorSchema, description="file_purged: deleted by retention")
    @blp.alt_response(503, schema=ErrorSchema, description="store_unavailable: try again later")
    def get(self, sha256: str) -> Response:
        """Download an evidence file (back office and support)."""
        return serve_file(sha256)


def serve_file(sha256: str) -> Response:
    """Stream a verified evidence file of the caller's tenant, or refuse why not."""
    opened = service.open_file(db_session(), evidence_store(), sha256)
    return stream_file(opened.first, opened.rest, opened.mimetype, opened.file.size, etag=sha256)


@blp.route("/<string:sha256>/upload")
class UploadState(MethodView):
    @require_roles(Role.DRIVER)
    @blp.response(200, UploadStateSchema)
    @blp.alt_response(
        404, schema=ErrorSchema, description="file_not_referenced: no event references this hash"
    )
    @blp.alt_response(
        409, schema=ErrorSchema, description="upload_direct_to_store; upload_in_progress"
    )
    def get(self, sha256: str) -> Any:
        """How many bytes of this file the server holds: resume the PUT from ``offset``
        (the file's size once it has verified; local store only)."""
        state = service.upload_state(db_session(), evidence_store(), sha256)
        return asdict(state), 200, {UPLOAD_OFFSET: str(state.offset)}


@blp.route("/<string:sha256>/complete")
class CompleteUpload(MethodView):
    @require_roles(Role.DRIVER)
    @blp.response(200, FileStateSchema)
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="file_not_uploaded: the store does not hold matching bytes",
    )
    @blp.alt_response(422, schema=ErrorSchema, description=REFUSED_IMAGE)
    @blp.alt_response(503, schema=ErrorSchema, description="store_unavailable: try again later")
    def post(self, sha256: str) -> dict[str, Any]:
        """Tell the server a direct upload finished; it re-reads and checks the bytes."""
        service.confirm(db_session(), evidence_store(), sha256)
        return {"sha256": sha256, "verified": True}
