"""Evidence bundles: everything about one stop's proof, verifiable offline."""
