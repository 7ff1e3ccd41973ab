"""The HTTP front: Slack requests at POST /slack/events, health at GET /healthz, gauges at GET /metrics."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy.exc import SQLAlchemyError

from bot.app import empathy_context_of
from bot.database import database_answers
from bot.metrics import gauges, prometheus_text


def create_web_app(bolt_app: App) -> Flask:
    web = Flask("empathy-bot")
    handler = SlackRequestHandler(bolt_app)
    engine = empathy_context_of(bolt_app).engine

    @web.post("/slack/events")
    def slack_events() -> Response:
        return handler.handle(request)  # type: ignore[no-any-return]

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
