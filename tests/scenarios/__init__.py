"""End-to-end scenarios through the real platform SDKs against the fakes in tests/fakes."""
