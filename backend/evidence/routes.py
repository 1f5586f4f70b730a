"""Evidence file uploads (local store), upload confirmation (S3) and downloads."""

from __future__ import annotations

from typing import Any

from flask import Response, request, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, fields

from backend.auth.guard import require_roles
from backend.db.session import begin_write, db_session
from backend.domain.digest import is_sha256_hex
from backend.domain.stops import Role
from backend.errors import ApiError
from backend.evidence import service
from backend.evidence.storage import (
    ALLOWED_CONTENT_TYPES,
    LocalStore,
    StoreError,
    StoreUnavailable,
)
from backend.http import ApiBlueprint, accepts
from backend.schemas import BINARY, ErrorSchema
from backend.sync.settle import settle_stops_citing

blp = ApiBlueprint(
    "evidence", __name__, url_prefix="/api/v1/evidence", description="Evidence files"
)


class FileStateSchema(Schema):
    sha256 = fields.String(required=True)
    verified = fields.Boolean(required=True)


def _referenced_file(sha256: str) -> Any:
    if not is_sha256_hex(sha256):
        raise ApiError(404, "not_found", "files are named by their lowercase hex SHA-256")
    file = service.find_file(db_session(), sha256)
    if file is None:
        raise ApiError(404, "file_not_referenced", "no event references a file with this hash")
    return file


@blp.route("/<string:sha256>")
class EvidenceFileResource(MethodView):
    @require_roles(Role.DRIVER)
    @accepts(*ALLOWED_CONTENT_TYPES)
    @blp.response(200, FileStateSchema)
    @blp.alt_response(
        404, schema=ErrorSchema, description="file_not_referenced: no event references this hash"
    )
    @blp.alt_response(
        409, schema=ErrorSchema, description="upload_direct_to_store: use the presigned target"
    )
    @blp.alt_response(411, schema=ErrorSchema, description="length_required: send Content-Length")
    @blp.alt_response(
        422, schema=ErrorSchema, description="hash_mismatch, size_mismatch, content_type_mismatch"
    )
    def put(self, sha256: str) -> dict[str, Any]:
        """Upload the bytes of a file an event referenced (local store only).

        The body is streamed to a temporary file, checked against the size and SHA-256
        the event declared, and only then published; a cut connection or wrong bytes
        leave the file pending. Uploading a file the server already holds is a no-op.
        """
        session = db_session()
        begin_write(session)
        file = _referenced_file(sha256)
        if file.verified_at is not None:
            return {"sha256": sha256, "verified": True}
        store = service.get_store()
        if not isinstance(store, LocalStore):
            raise ApiError(
                409, "upload_direct_to_store", "upload to the target the sync response gave"
            )
        if request.mimetype != file.content_type:
            raise ApiError(
                422,
                "content_type_mismatch",
                f"the event declared {file.content_type}, the body is {request.mimetype}",
            )
        if request.content_length is None:
            raise ApiError(411, "length_required", "send the body with a Content-Length")
        if request.content_length != file.size:
            raise ApiError(
                422,
                "size_mismatch",
                f"the event declared {file.size} bytes, Content-Length is {request.content_length}",
            )
        try:
            service.receive_upload(session, store, file, request.stream)
        except StoreError as exc:
            raise ApiError(422, exc.code, exc.message) from exc
        settle_stops_citing(session, sha256)
        session.commit()
        return {"sha256": sha256, "verified": True}

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
    """Stream a verified evidence file of the caller's tenant, or raise why not."""
    file = _referenced_file(sha256)
    if file.verified_at is None:
        raise ApiError(404, "file_missing", "the file has not arrived yet")
    if file.purged_at is not None:
        raise ApiError(410, "file_purged", "the retention job deleted this file")
    chunks = service.get_store().open(file.org_id, sha256)
    try:
        first = next(chunks, b"")
    except StoreUnavailable as exc:
        raise ApiError(503, exc.code, exc.message) from exc
    except StoreError as exc:
        raise ApiError(404, exc.code, exc.message) from exc

    def body() -> Any:
        yield first
        yield from chunks

    response = Response(stream_with_context(body()), mimetype=file.content_type)
    response.headers["Content-Length"] = str(file.size)
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    response.direct_passthrough = True
    return response


@blp.route("/<string:sha256>/complete")
class CompleteUpload(MethodView):
    @require_roles(Role.DRIVER)
    @blp.response(200, FileStateSchema)
    @blp.alt_response(
        409,
        schema=ErrorSchema,
        description="file_not_uploaded: the store does not hold matching bytes",
    )
    @blp.alt_response(503, schema=ErrorSchema, description="store_unavailable: try again later")
    def post(self, sha256: str) -> dict[str, Any]:
        """Tell the server a direct upload finished; it re-reads and checks the bytes."""
        session = db_session()
        begin_write(session)
        file = _referenced_file(sha256)
        try:
            verified = service.confirm_upload(session, service.get_store(), file)
        except StoreUnavailable as exc:
            raise ApiError(503, exc.code, exc.message) from exc
        if verified:
            settle_stops_citing(session, sha256)
        else:
            raise ApiError(
                409,
                "file_not_uploaded",
                "the store does not hold bytes with this size and hash; upload again",
            )
        session.commit()
        return {"sha256": sha256, "verified": True}
