"""GET /: where a newcomer lands."""
