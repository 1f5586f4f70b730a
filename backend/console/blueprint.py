"""The console's one blueprint: every page registers on it, so links are console.<page>."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
