"""The HTTP front: Slack requests at POST /slack/events, health at GET /healthz, gauges at GET /metrics."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from flask import Flask, Request, Response, jsonify, request
from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.flask.handler import to_bolt_request, to_flask_response
from slack_bolt.request.internals import build_context
from sqlalchemy.exc import SQLAlchemyError

from bot.app import empathy_context_of
from bot.database import database_answers
from bot.metrics import gauges, prometheus_text

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def bolt_request_from(flask_request: Request) -> BoltRequest:
    """Bolt's request, with slash commands whose text merely mentions "payload" parsed as the form they are.

    Bolt treats any form body containing the word "payload" as an interactive payload, so
    "/suggest the payload checks are slow" would reach no listener. Read the form properly instead.
    """
    bolt_request = to_bolt_request(flask_request)
    if bolt_request.body or not bolt_request.raw_body or bolt_request.raw_body.startswith("{"):
        return bolt_request
    form = dict(parse_qsl(bolt_request.raw_body, keep_blank_values=True))
    if "payload" not in form:
        bolt_request.body = form
        bolt_request.context = build_context(BoltContext({}), form)
    return bolt_request


def create_web_app(bolt_app: App) -> Flask:
    web = Flask("empathy-bot")
    # Slack's own payloads are far smaller; anything bigger is not from Slack and gets 413 unread.
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    handler = SlackRequestHandler(bolt_app)
    engine = empathy_context_of(bolt_app).engine

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[str, int]:
        try:
            return to_flask_response(bolt_app.dispatch(bolt_request_from(request)))
        except (ValueError, TypeError, AttributeError):
            # Bolt parses the body before it checks the signature; a body that is not Slack's JSON ends here.
            logger.warning("refused a malformed request to /slack/events")
            return "malformed request", 400

    if empathy_context_of(bolt_app).settings.oauth:
        from bot.installations import INSTALL_PATH, REDIRECT_PATH

        @web.get(INSTALL_PATH)
        @web.get(REDIRECT_PATH)
        def oauth() -> Response:
            # Bolt's OAuth flow: the "Add to Slack" page, then the redirect that stores the installation.
            return handler.handle(request)  # type: ignore[no-any-return]

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        if database_answers(engine):
            return jsonify(status="ok", database="ok"), 200
        return jsonify(status="unavailable", database="unreachable"), 503

    @web.get("/metrics")
    def metrics() -> tuple[Response, int]:
        empathy = empathy_context_of(bolt_app)
        try:
            with empathy.session_factory() as session:
                body = prometheus_text(gauges(session, empathy.clock.now()))
        except SQLAlchemyError:
            return Response("database unreachable\n", mimetype="text/plain"), 503
        return Response(body, mimetype="text/plain; version=0.0.4"), 200

    return web
