"""Errors written for the person who caused them. Free of Slack types, so domain services can raise them."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is kind, specific and says what to do next.

    Raise it from a listener or a service; the global error handler shows it as an ephemeral reply.
    """
