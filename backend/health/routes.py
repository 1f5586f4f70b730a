"""GET /healthz: the process is up and can reach its database."""

from __future__ import annotations

from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.db.session import db_session
from backend.errors import error_response
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema

blp = ApiBlueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema, description="The process is up and reaches its database")
    @blp.alt_response(
        503, schema=ErrorSchema, description="database_unavailable: the database is unreachable"
    )
    def get(self) -> Response:
        """Check the database and answer ok."""
        try:
            db_session().execute(text("SELECT 1"))
        except SQLAlchemyError:
            return error_response(503, "database_unavailable", "the database is unreachable")
        return jsonify(status="ok")
