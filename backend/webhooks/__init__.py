"""Webhooks: signed delivery events for integrators, retried from a durable queue."""
