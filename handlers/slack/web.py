"""The HTTP front: Slack requests at POST /slack/events, health at GET /healthz, gauges at GET /metrics."""

from __future__ import annotations

import hmac
import io
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, jsonify, request
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.flask.handler import to_bolt_request, to_flask_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.database import database_answers
from bot.core.settings import Settings
from bot.delivery.inbox import Inbox
from bot.metrics import gauges, prometheus_text
from handlers.slack.bolt_requests import parse_forms_properly
from handlers.slack.context import empathy_context_of
from handlers.slack.early_ack import early_ack_of
from handlers.slack.inbox_app import inbox_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def bolt_request_from(flask_request: Request) -> BoltRequest:
    """Bolt's request, with slash commands whose text merely mentions "payload" parsed as the form they are."""
    return parse_forms_properly(to_bolt_request(flask_request))


def create_web_app(bolt_app: App, *, works: bool = True) -> Flask:
    """The web front. `works=False` when a separate `empathy-bot worker` does the work behind early acks."""
    web = Flask("empathy-bot")
    # Slack's own payloads are far smaller; anything bigger is not from Slack and gets 413 unread.
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    handler = SlackRequestHandler(bolt_app)
    empathy = empathy_context_of(bolt_app)
    engine = empathy.engine
    inbox = inbox_for(empathy.settings, engine=engine, clock=empathy.clock, accepts=True, works=works)
    verifier = SignatureVerifier(empathy.settings.slack_signing_secret or "unused")

    if inbox is not None:
        web.wsgi_app = _EarlyAcks(web.wsgi_app, inbox, verifier)  # type: ignore[method-assign]

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[str, int]:
        try:
            return to_flask_response(bolt_app.dispatch(bolt_request_from(request)))
        except (ValueError, TypeError, AttributeError):
            # Bolt parses the body before it checks the signature; a body that is not Slack's JSON ends here.
            logger.warning("refused a malformed request to /slack/events")
            return "malformed request", 400

    if empathy.settings.oauth:
        from handlers.slack.installations import INSTALL_PATH, REDIRECT_PATH

        @web.get(INSTALL_PATH)
        @web.get(REDIRECT_PATH)
        def oauth() -> Response:
            # Bolt's OAuth flow: the "Add to Slack" page, then the redirect that stores the installation.
            return handler.handle(request)  # type: ignore[no-any-return]

    if inbox is not None:
        inbox.start()  # a working inbox picks up what a crashed process left, without waiting for a request
        web.extensions["empathy_inbox"] = inbox

    add_ops_routes(web, empathy.settings, engine, empathy.session_factory, empathy.clock, inbox)
    return web


def add_ops_routes(
    web: Flask,
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    clock: Clock,
    inbox: Inbox | None = None,
) -> None:
    """GET /healthz and GET /metrics, which every front has, with or without Slack's routes."""

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        if database_answers(engine):
            return jsonify(status="ok", database="ok"), 200
        return jsonify(status="unavailable", database="unreachable"), 503

    @web.get("/metrics")
    def metrics() -> tuple[Response, int]:
        refusal = _metrics_refusal(settings.metrics_token, request.headers.get("Authorization", ""))
        if refusal is not None:
            return refusal
        try:
            with session_factory() as session:
                values = gauges(session, clock.now())
            if inbox is not None:
                values["empathy_inbox_waiting"], values["empathy_inbox_lag_seconds"] = inbox.waiting()
            body = prometheus_text(values)
        except SQLAlchemyError:
            return Response("database unreachable\n", mimetype="text/plain"), 503
        return Response(body, mimetype="text/plain; version=0.0.4"), 200


def _metrics_refusal(token: str | None, authorization: str) -> tuple[Response, int] | None:
    """Why a /metrics request is refused (None: it may read the gauges).

    The gauges describe activity (how much the outbox holds, how fast it sends), so they are for the
    monitoring system only: it presents EMPATHY_METRICS_TOKEN as a bearer token. Without that setting
    /metrics does not exist (404), so a deployment is closed until someone decides to open it.
    """
    if token is None:
        return Response("metrics are off: set EMPATHY_METRICS_TOKEN to turn them on\n", mimetype="text/plain"), 404
    scheme, _, presented = authorization.strip().partition(" ")
    # compare_digest takes as long whatever the first wrong byte, so timing does not reveal the token.
    if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return None
    refused = Response("send the header Authorization: Bearer <EMPATHY_METRICS_TOKEN>\n", mimetype="text/plain")
    refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return refused, 401


class _EarlyAcks:
    """WSGI middleware in front of Flask: stores and acks what may be acked before its work (handlers/slack/early_ack.py).

    In front of Flask, not in a view, because the ack is the hot path under load and Flask's request
    machinery cost as much as the rest of it. Anything it does not ack goes on to Flask untouched.
    """

    def __init__(self, app: WSGIApplication, inbox: Inbox, verifier: SignatureVerifier) -> None:
        self._app = app
        self._inbox = inbox
        self._verifier = verifier

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/slack/events":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if 0 < length <= MAX_BODY_BYTES:
                body = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(body)  # for Flask, if it is not acked here
                if self._acked(body, environ):
                    start_response("200 OK", [("Content-Length", "0")])  # what Bolt would have answered
                    return [b""]
        return self._app(environ, start_response)

    def _acked(self, body: bytes, environ: WSGIEnvironment) -> bool:
        try:
            raw = body.decode()
        except UnicodeDecodeError:
            return False
        early = early_ack_of(raw)
        signed = {
            "x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
            "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", ""),
        }
        if early is None or not _signed(self._verifier, raw, signed):
            return False  # Bolt answers it, with a 401 if the signature is wrong
        try:
            self._inbox.accept(early.kind, raw, who=early.who)
        except SQLAlchemyError:
            # Bolt then acks and its listener tells the person to try again in a minute.
            logger.warning("could not keep a %s for later; handling it now", early.kind)
            return False
        return True


def _signed(verifier: SignatureVerifier, raw_body: str, headers: Mapping[str, str]) -> bool:
    try:
        return verifier.is_valid_request(raw_body, dict(headers))
    except ValueError:  # a timestamp that is not a number
        return False
