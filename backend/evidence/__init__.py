"""Evidence files: content-addressed storage, uploads and verification."""
