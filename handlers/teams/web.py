"""Teams' messaging endpoint, `POST /api/messages`, on the bot's Flask front beside Slack's routes.

The SDK's public `HttpServerAdapter` protocol lets any framework carry its route: `FlaskAdapter` puts it
on our Flask app, so gunicorn serves Slack and Teams from one port, one process model and one health
check. The SDK's coroutine (token validation, then our handlers) runs on the process's one event loop
(`handlers.teams.loop`); the Flask thread waits for it a bounded time.

Teams stops delivering to a bot that answers 5xx for a while, so nothing of ours answers one: our
handlers' failures already became an apology (`handlers.teams.app`), and anything the SDK itself
answers with 5xx, or a wait that runs out, is answered 200. A request that fails authentication keeps
the SDK's 401.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from microsoft_teams.apps import App
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpRouteHandler
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.settings import Settings
from handlers.teams.app import TokenProvider, create_teams_app
from handlers.teams.loop import LoopThread, process_loop

logger = logging.getLogger(__name__)

# The Bot Connector gives up on a bot after 15 s; answering before that keeps its retries away.
WAIT_SECONDS = 12.0
INITIALIZE_SECONDS = 30.0


class FlaskAdapter:
    """The SDK's `HttpServerAdapter` on a Flask app that something else (gunicorn) serves."""

    def __init__(self, web: Flask, loop: LoopThread, wait_seconds: float = WAIT_SECONDS) -> None:
        self._web = web
        self._loop = loop
        self._wait_seconds = wait_seconds

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST":
            raise ValueError(f"the Teams SDK asked for {method} {path}; only POST routes are carried")

        def view() -> Response:
            return self._answer(handler)

        self._web.add_url_rule(path, endpoint=f"teams {path}", view_func=view, methods=["POST"])

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("the bot serves no static files for Teams")

    async def start(self, port: int) -> None:
        raise RuntimeError("gunicorn serves the Flask front (`empathy-bot serve`); there is nothing to start")

    async def stop(self) -> None:
        pass

    def _answer(self, handler: HttpRouteHandler) -> Response:
        # Whatever the Content-Type says: an activity is JSON or it is nothing the SDK could read.
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return Response("malformed request", status=400, mimetype="text/plain")
        _readable_by_sdk(body)
        # The SDK looks for "authorization" or "Authorization"; Flask title-cases, a proxy may not.
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            result = self._loop.run(handler(HttpRequest(body=body, headers=headers)), self._wait_seconds)
        except TimeoutError:
            logger.error(
                "a Teams %s took over %g s; answered 200 while it finishes", body.get("type"), self._wait_seconds
            )
            return Response(status=200)
        except Exception as error:
            logger.error("the Teams SDK failed on a %s (%s); answered 200", body.get("type"), type(error).__name__)
            return Response(status=200)
        status, answer = result["status"], result.get("body")
        if status >= 500:
            logger.error("the Teams SDK answered %d to a %s; answered 200 instead", status, body.get("type"))
            return Response(status=200)
        if answer is None:
            return Response(status=status)
        return Response(json.dumps(answer), status=status, mimetype="application/json")


def _readable_by_sdk(body: dict[str, object]) -> None:
    """Drop what SDK 2.1.1's models refuse in activities Teams really sends. A card's `refresh` arrives
    as an `adaptiveCard/action` invoke with `"trigger": "automatic"` (Microsoft documents
    "automatic" | "manual"); the SDK's `AdaptiveCardInvokeValue.trigger` is `Literal["manual"]`, so it
    would fail the whole invoke (a 500, and no card). Nothing of ours reads the trigger. The token
    signs no part of the body, so this changes nothing the SDK authenticates."""
    value = body.get("value")
    if body.get("name") == "adaptiveCard/action" and isinstance(value, dict) and value.get("trigger") == "automatic":
        del value["trigger"]


class _WithholdSdkErrors(logging.Filter):
    """The SDK's HTTP server logs any exception with its message (`logger.exception(str(e))`), and a
    payload validation error quotes the payload: what a person typed. Keep the exception's type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = "the Teams SDK failed on a request: %s", (type(record.exc_info[1]).__name__,)
            record.exc_info = record.exc_text = None
        return True


def _guard_sdk_logs() -> None:
    sdk = logging.getLogger("microsoft_teams.apps.http.http_server")
    if not any(isinstance(f, _WithholdSdkErrors) for f in sdk.filters):
        sdk.addFilter(_WithholdSdkErrors())
    # At DEBUG the SDK logs whole activities ("Received activity: …"), text included.
    teams = logging.getLogger("microsoft_teams")
    if teams.level < logging.INFO:
        teams.setLevel(logging.INFO)


def mount_teams(
    web: Flask,
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    clock: Clock | None = None,
    token: TokenProvider | None = None,
    wait_seconds: float = WAIT_SECONDS,
) -> App:
    """Add `POST /api/messages` to `web`, answered by the Teams SDK on this process's event loop."""
    _guard_sdk_logs()
    loop = process_loop()
    adapter = FlaskAdapter(web, loop, wait_seconds)
    app = create_teams_app(settings, session_factory, adapter=adapter, clock=clock, token=token)
    loop.run(app.initialize(), INITIALIZE_SECONDS)  # registers the route through the adapter
    web.extensions["empathy_teams"] = app
    return app
