"""GET /: a browser is sent to the console's login page, an API client gets links.

Someone who opens the server's address in a browser wants the console; a program that
asks for it wants to know where the documentation and the health check are. The
choice follows the Accept header (a client naming neither, like curl's ``*/*``, gets
the JSON), so the answer carries ``Vary: Accept`` for any cache in between.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask.views import MethodView
from marshmallow import fields

from backend.http import JSON, ApiBlueprint
from backend.schemas import ResponseSchema

blp = ApiBlueprint("index", __name__, description="Where to start")

HTML = "text/html"


class LinksSchema(ResponseSchema):
    docs = fields.String(required=True, metadata={"example": "/api/v1/docs"})
    openapi = fields.String(required=True, metadata={"example": "/api/v1/openapi.json"})
    health = fields.String(required=True, metadata={"example": "/healthz"})
    console = fields.String(required=True, metadata={"example": "/console/login"})


class IndexSchema(ResponseSchema):
    name = fields.String(required=True, metadata={"example": "Doorstep API"})
    links = fields.Nested(LinksSchema, required=True)


@blp.route("/")
class Index(MethodView):
    @blp.response(200, IndexSchema, description="Links to the API's documentation and health")
    @blp.alt_response(
        302,
        schema={"type": "string"},
        content_type=HTML,
        description="A browser (Accept prefers text/html) is sent to the console's login page",
        headers={
            "Location": {"description": "The console's login page", "schema": {"type": "string"}}
        },
    )
    def get(self) -> Any:
        """Send a browser to the console, an API client to the documentation."""
        if request.accept_mimetypes.best_match([JSON, HTML]) == HTML:
            response = redirect(url_for("console.login"))
            response.vary.add("Accept")
            return response
        body = {
            "name": "Doorstep API",
            "links": {
                "docs": url_for("api-docs.openapi_swagger_ui"),
                "openapi": url_for("api-docs.openapi_json"),
                "health": url_for("health.Health"),
                "console": url_for("console.login"),
            },
        }
        return body, 200, {"Vary": "Accept"}
