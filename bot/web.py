"""The HTTP front: Slack requests at POST /slack/events, health at GET /healthz."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.app import empathy_context_of
from bot.database import database_answers


def create_web_app(bolt_app: App) -> Flask:
    web = Flask("empathy-bot")
    handler = SlackRequestHandler(bolt_app)
    engine = empathy_context_of(bolt_app).engine

    @web.post("/slack/events")
    def slack_events() -> Response:
        return handler.handle(request)  # type: ignore[no-any-return]

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        if database_answers(engine):
            return jsonify(status="ok", database="ok"), 200
        return jsonify(status="unavailable", database="unreachable"), 503

    return web
