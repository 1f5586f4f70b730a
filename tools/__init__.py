"""Developer tools run from the Makefile (``python -m tools.<name>``)."""
