"""Bolt requests built from raw bodies, with slash commands parsed as the forms they are."""

from __future__ import annotations

from urllib.parse import parse_qsl

from slack_bolt import BoltContext, BoltRequest
from slack_bolt.request.internals import build_context


def bolt_request_of(raw_body: str) -> BoltRequest:
    """The Bolt request for a body the inbox kept (its signature was checked when it arrived)."""
    content_type = "application/json" if raw_body.startswith("{") else "application/x-www-form-urlencoded"
    return parse_forms_properly(BoltRequest(body=raw_body, headers={"content-type": [content_type]}))


def parse_forms_properly(bolt_request: BoltRequest) -> BoltRequest:
    """Bolt treats any form body containing the word "payload" as an interactive payload, so
    "/suggest the payload checks are slow" would reach no listener. Read the form properly instead.
    """
    if bolt_request.body or not bolt_request.raw_body or bolt_request.raw_body.startswith("{"):
        return bolt_request
    form = dict(parse_qsl(bolt_request.raw_body, keep_blank_values=True))
    if "payload" not in form:
        bolt_request.body = form
        bolt_request.context = build_context(BoltContext({}), form)
    return bolt_request
