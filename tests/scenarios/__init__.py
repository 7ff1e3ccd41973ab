"""End-to-end tests through the real parts and the fakes."""
