"""Database adapters: the models, the engine and the per-request session."""
