"""The framework floor: a bare Flask app with one JSON endpoint and nothing else.

`make bench` serves it with the same gunicorn command and settings as the real app
(backend/gunicorn_conf.py), so its rate is the most any endpoint here could reach on
this machine: no middleware, no database, no authentication. The path is /healthz
only because the bench's server helper waits on that path before measuring.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app
