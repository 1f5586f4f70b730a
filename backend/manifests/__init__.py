"""Manifests: one driver's ordered stops for one service date."""
