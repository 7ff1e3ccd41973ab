"""Fakes of the chat platforms' services, served over real HTTP on ephemeral ports."""
