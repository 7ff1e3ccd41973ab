"""The Bolt app factory: wiring only. Listeners live in `handlers/`, domain logic in `bot/` and
`surveys/` services."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import bot.schema  # noqa: F401  (registers every table)
from bot.core.clock import Clock, SystemClock
from bot.core.crypto import SecretBox
from bot.core.database import make_engine, make_session_factory
from bot.core.errors import UserFacingError
from bot.core.logs import guard_loggers
from bot.core.settings import Settings
from handlers.slack.client import build_web_client
from handlers.slack.context import AppContext
from handlers.slack.keepalive import KeepAliveWebClient, keep_alive
from handlers.slack.listeners.common import error_text, escape

logger = logging.getLogger(__name__)
LISTENER_THREADS = 32

APOLOGY = (
    "Sorry, something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, let your HR team know."
)
DATABASE_DOWN = "I can't reach my database right now, so nothing was saved. Please try again in a minute."


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    for_inbox: bool = False,
) -> App:
    """Build the Bolt app. Nothing talks to Slack or the database until a request arrives.

    `for_inbox` builds the app that handles requests the web front already acked (bot/delivery/inbox.py): it
    runs each listener to its end on the calling thread, and the request's signature was checked
    when it arrived, perhaps minutes ago.
    """
    engine = engine or make_engine(settings.database_url)
    empathy = AppContext(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock or SystemClock(),
        box=SecretBox(settings.secret_key),
        already_acked=for_inbox,
    )
    if settings.oauth:
        from handlers.slack.installations import oauth_settings
        from handlers.slack.scopes import REQUIRED_SCOPES

        # Each request's client gets its workspace's token from the installation store (Bolt's authorize).
        auth: dict[str, Any] = {
            "oauth_settings": oauth_settings(settings, engine, list(REQUIRED_SCOPES)),
            "user_facing_authorize_error_message": NOT_INSTALLED,
        }
    else:
        auth = {"token_verification_enabled": False}  # checked at `serve` start with a readable message
    app = App(
        name="empathy-bot",
        client=client or build_web_client(settings),
        signing_secret=settings.slack_signing_secret or "socket-mode",
        **auth,
        # Socket Mode requests come over an authenticated websocket and carry no signature.
        request_verification_enabled=not (settings.socket_mode or for_inbox),
        process_before_response=for_inbox,
        logger=_bolt_logger(),
        # Bolt answers Slack only when a listener has called ack(), and listeners run on this pool:
        # its default of 5 threads made acks queue behind slow listeners under load (p50 450 ms with
        # 32 concurrent clicks; see benchmarks/). Listeners mostly wait on I/O, so threads are cheap.
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    app.empathy = empathy  # type: ignore[attr-defined]
    app.use(_keep_acks)
    app.use(_provide_context(empathy, keep_connections=isinstance(app.client, KeepAliveWebClient)))
    app.error(_handle_error)

    from handlers.slack.listeners import register_all

    register_all(app)
    return app


NOT_INSTALLED = (
    "Empathy Bot isn't installed in this workspace yet, so I can't help here. "
    "Ask a Slack admin to add it from our install page, then try again."
)


class _DropTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment on its own and then warns, at every start, that the
    client we pass (built from the same token) wins. That is what we intend; the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _bolt_logger() -> logging.Logger:
    guard_loggers()  # whoever set up logging (or nobody), Slack payloads stay out of it
    bolt = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _DropTokenNotice) for f in bolt.filters):
        bolt.addFilter(_DropTokenNotice())
    return bolt


class _KeptAck(Ack):
    """An ack that, once given, stays given.

    Bolt's thread runner sets `ack.response = None` when a listener raises after acking, while the
    request thread is still polling (every 10 ms) for that ack. A listener that acked and then failed
    within those milliseconds (the database refusing connections during an outage: see
    benchmarks/db_outage.py) lost its ack, and Slack got a 404 after 3 s instead of our 200.
    """

    def __init__(self) -> None:
        self._given: BoltResponse | None = None
        super().__init__()

    @property  # type: ignore[override]
    def response(self) -> BoltResponse | None:
        return self._given

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if value is not None:
            self._given = value


def _keep_acks(context: dict[str, Any], next: Callable[[], None]) -> None:
    context["ack"] = _KeptAck()
    next()


def _provide_context(empathy: AppContext, *, keep_connections: bool) -> Callable[..., Any]:
    def provide_context(context: dict[str, Any], next: Callable[[], None]) -> None:
        context["empathy"] = empathy
        # Bolt builds a plain WebClient per request from the app's client (with the request's token by
        # now): the same over kept connections, when the app's client keeps them.
        if keep_connections and isinstance(context.get("client"), WebClient):
            context["client"] = keep_alive(context["client"])
        next()

    return provide_context


def _handle_error(
    error: Exception, body: dict[str, Any], respond: Any, context: dict[str, Any], response: BoltResponse | None
) -> None:
    """Turn known errors into kind ephemeral replies; log the rest without user content.

    `response` is Bolt's HTTP 500 for a listener that failed before acking (None once acked).
    """
    empathy = context.get("empathy")
    if empathy is not None and empathy.already_acked:
        response = None  # the web front acked long ago; only the response_url still reaches the person
    if isinstance(error, UserFacingError):
        _tell(respond, escape(error_text(error)), body, response)  # error messages may quote what someone typed
        return
    if isinstance(error, OperationalError):
        logger.error("database unavailable while handling %s", _request_kind(body))
        _tell(respond, DATABASE_DOWN, body, response)
        return
    # The traceback shows code, not values; the exception's message might quote what a person typed.
    frames = "".join(traceback.format_tb(error.__traceback__))
    logger.error("unexpected %s while handling %s\n%s", type(error).__name__, _request_kind(body), frames)
    _tell(respond, APOLOGY, body, response)


def _tell(respond: Any, text: str, body: dict[str, Any], response: BoltResponse | None) -> None:
    if response is not None and body.get("command"):
        # A slash command that failed before its ack: say it in the ack, which Slack shows at once,
        # instead of Bolt's 500 ("/pulse failed with the error dispatch_failed") plus a second message.
        response.status = 200
        response.body = json.dumps({"response_type": "ephemeral", "text": text})
        response.headers["content-type"] = ["application/json;charset=utf-8"]
        return
    if respond is None or getattr(respond, "response_url", None) is None:
        return
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as error:
        logger.warning("could not send an error reply: %s", type(error).__name__)


def _request_kind(body: dict[str, Any]) -> str:
    if body.get("command"):
        return f"command {body['command']}"
    if body.get("type") == "event_callback":
        return f"event {body.get('event', {}).get('type')}"
    return str(body.get("type") or "request")
