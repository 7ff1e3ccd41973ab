"""Fakes of the platforms' services, on ephemeral ports."""
