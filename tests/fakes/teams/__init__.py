"""Fakes of Microsoft Teams' services (Graph, the Bot Connector), on ephemeral ports."""
