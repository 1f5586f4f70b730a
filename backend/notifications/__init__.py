"""Recipient messages: a durable outbox, e-mail and SMS transports, tenant templates."""
