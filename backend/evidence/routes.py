"""Evidence file uploads (local store), upload confirmation (S3) and downloads."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, fields

from backend.auth.guard import require_roles
from backend.db.session import begin_write, db_session
from backend.domain.digest import is_sha256_hex
from backend.domain.events import MAX_FILE_BYTES
from backend.domain.roles import Role
from backend.errors import ApiError
from backend.evidence import service
from backend.evidence.storage import (
    ALLOWED_CONTENT_TYPES,
    LocalStore,
    StoreError,
    StoreUnavailable,
    UploadInProgress,
    UploadOffsetMismatch,
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
    # Bytes the server holds of an unfinished upload (202 answers only).
    offset = fields.Integer()


class UploadStateSchema(Schema):
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    verified = fields.Boolean(required=True)
    offset = fields.Integer(required=True, metadata={"description": "resume the PUT from here"})


CONTENT_RANGE = re.compile(r"bytes (\d{1,12})-(\d{1,12})/(\d{1,12})")
# Also sent as a header, as the tus protocol names it, for clients that read only headers.
UPLOAD_OFFSET = "Upload-Offset"


def _body_start(header: str | None, size: int, length: int) -> int:
    """Where in the file a PUT body starts: 0 for the whole file, else the start of its
    ``Content-Range: bytes <start>-<end>/<size>``. Raises unless the body is exactly
    the bytes it claims to be."""
    if header is None:
        if length != size:
            raise ApiError(
                422,
                "size_mismatch",
                f"the event declared {size} bytes, Content-Length is {length}",
            )
        return 0
    match = CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise ApiError(400, "invalid_content_range", "send Content-Range: bytes start-end/size")
    start, end, total = (int(group) for group in match.groups())
    if total != size:
        raise ApiError(422, "size_mismatch", f"the event declared {size} bytes, not {total}")
    if not start <= end < total:
        raise ApiError(400, "invalid_content_range", f"bytes {start}-{end} are not in the file")
    if length != end - start + 1:
        raise ApiError(
            422, "size_mismatch", f"bytes {start}-{end} are {end - start + 1} bytes, not {length}"
        )
    return start


def _local_store() -> LocalStore:
    store = service.get_store()
    if not isinstance(store, LocalStore):
        raise ApiError(409, "upload_direct_to_store", "upload to the target the sync response gave")
    return store


def _answer(session: Any, file: Any) -> dict[str, Any]:
    """200 for a file that verified and is an image; 422 (committed) for one that is not.

    The bytes of a refused file are kept and the refusal is committed before answering,
    so asking again gives the same 422 without decoding anything again.
    """
    refused = service.refusal(file)
    if refused is not None:
        session.commit()
        raise ApiError(422, *refused)
    session.commit()
    return {"sha256": file.sha256, "verified": True}


REFUSED_IMAGE = (
    "image_too_large: more than 40 megapixels (not decoded); not_an_image: the bytes do "
    "not decode as the declared type. Either way the bytes are kept as evidence, marked "
    "invalid and never counted as proof"
)


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
        session = db_session()
        file = _referenced_file(sha256)
        if file.verified_at is not None:
            return _answer(session, file)
        store = _local_store()
        if request.mimetype != file.content_type:
            raise ApiError(
                422,
                "content_type_mismatch",
                f"the event declared {file.content_type}, the body is {request.mimetype}",
            )
        length = request.content_length
        if length is None:
            raise ApiError(411, "length_required", "send the body with a Content-Length")
        # A file body may be as large as an event may declare its file, beyond the API's
        # limit for JSON bodies; Content-Range and the declared size bound it below.
        request.max_content_length = MAX_FILE_BYTES
        start = _body_start(request.headers.get("Content-Range"), file.size, length)
        org_id, size, content_type = file.org_id, file.size, file.content_type
        # The body can take minutes over a phone network: it is received with no
        # transaction open, so no writer waits for it (on SQLite, a write transaction
        # held meanwhile would stall every sync). Two uploads of the same file at once
        # take turns on its partial file, and only bytes that match the hash are published.
        session.rollback()
        try:
            complete = service.receive_upload(
                store, org_id, sha256, size, start, length, request.stream
            )
            if not complete:
                held = start + length
                kept = {"sha256": sha256, "verified": False, "offset": held}
                return kept, 202, {UPLOAD_OFFSET: str(held)}
            invalid_reason = service.inspect_image(store, org_id, sha256, content_type)
        except UploadOffsetMismatch as exc:
            raise ApiError(
                409, exc.code, exc.message, {"offset": exc.offset}, {UPLOAD_OFFSET: str(exc.offset)}
            ) from exc
        except UploadInProgress as exc:
            raise ApiError(409, exc.code, exc.message) from exc
        except StoreUnavailable as exc:
            raise ApiError(503, exc.code, exc.message) from exc
        except StoreError as exc:
            raise ApiError(422, exc.code, exc.message) from exc
        begin_write(session)
        file = _referenced_file(sha256)
        if service.mark_verified(file, invalid_reason):
            settle_stops_citing(session, sha256)
        return _answer(session, file)

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

    # Bytes that are not the image they claim (HTML, SVG, text) go out as opaque bytes.
    mimetype = file.content_type if file.invalid_reason is None else "application/octet-stream"
    response = Response(stream_with_context(body()), mimetype=mimetype)
    response.headers["Content-Length"] = str(file.size)
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    response.direct_passthrough = True
    return response


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
        session = db_session()
        file = _referenced_file(sha256)
        state = {"sha256": sha256, "size": file.size, "verified": file.verified_at is not None}
        if file.verified_at is not None:
            offset = file.size
        else:
            store = _local_store()
            org_id = file.org_id
            session.rollback()  # the count may wait for a request that is still writing
            try:
                offset = store.partial_offset(org_id, sha256)
            except UploadInProgress as exc:
                raise ApiError(409, exc.code, exc.message) from exc
        return {**state, "offset": offset}, 200, {UPLOAD_OFFSET: str(offset)}


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
        session = db_session()
        begin_write(session)
        file = _referenced_file(sha256)
        if file.verified_at is not None:
            return _answer(session, file)
        try:
            verified = service.confirm_upload(session, service.get_store(), file)
        except StoreUnavailable as exc:
            raise ApiError(503, exc.code, exc.message) from exc
        if not verified:
            raise ApiError(
                409,
                "file_not_uploaded",
                "the store does not hold bytes with this size and hash; upload again",
            )
        settle_stops_citing(session, sha256)
        return _answer(session, file)
