"""Delivery: the durable movement of messages, platform-neutral. `ports` is what a platform implements."""
