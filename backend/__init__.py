"""Doorstep: last-mile delivery with provable proof of delivery."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """Build the app from the environment (entry point for gunicorn and flask)."""
    from backend.app import create_app as build

    return build()
