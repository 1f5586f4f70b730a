"""Doorstep: last-mile delivery with provable proof of delivery.

Importing any ``backend`` module runs this file first, so it imports nothing: the
driver client imports ``backend.domain`` and must not load Flask with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app() -> Flask:
    """Build the app from the environment (entry point for gunicorn and flask)."""
    from backend.app import create_app as build

    return build()
