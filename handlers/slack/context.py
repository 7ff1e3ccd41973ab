"""What every listener gets besides the platform's own arguments: the app's context, and the rule that
an event is handled once however often it is delivered.

Apart from the app factory (`handlers.slack.app`) so that listeners import this, not the factory that imports
them: that pair was the heart of a 12-module import cycle.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.models import Person, ProcessedEvent, Workspace
from bot.core.settings import Settings

logger = logging.getLogger(__name__)

# A feature's part of someone's App Home: (session, workspace, person or None, their role, the context) -> blocks.
HomeSection = Callable[[Session, Workspace, "Person | None", Any, "AppContext"], list[dict[str, Any]]]


@dataclass
class HomeHooks:
    """App Home's parts, filled in when the listeners are registered (`handlers.register_all`): the
    sections each feature adds, and how to redraw someone's Home after a change. The Home module and
    the features it shows then never import each other."""

    sections: list[HomeSection] = field(default_factory=list)
    refresh: Callable[[WebClient, str, dict[str, Any]], None] | None = None


@dataclass(frozen=True)
class AppContext:
    """What every listener needs besides Slack: reachable as `context["empathy"]`."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    box: SecretBox
    # True in the app that handles requests the web front already acked (bot/delivery/inbox.py).
    already_acked: bool = False
    home: HomeHooks = field(default_factory=lambda: HomeHooks())


def empathy_context(context: dict[str, Any]) -> AppContext:
    return context["empathy"]  # type: ignore[no-any-return]


def empathy_context_of(app: App) -> AppContext:
    """The context `create_app` built for `app` (for the web front and the CLI)."""
    return app.empathy  # type: ignore[attr-defined, no-any-return]


def first_delivery(context: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether this is the first delivery of an event. Slack redelivers an event it thinks we missed;
    the first delivery's id (committed before its listener does anything) makes the rest no-ops, even
    one that arrives while the first is still being handled."""
    event_id = body.get("event_id")
    if not event_id:
        return True
    empathy = empathy_context(context)
    try:
        with empathy.session_factory.begin() as session:
            session.add(
                ProcessedEvent(
                    event_id=event_id, slack_team_id=str(body.get("team_id") or ""), received_at=empathy.clock.now()
                )
            )
    except IntegrityError:
        logger.info("event %s already handled; ignoring the redelivery", event_id)
        return False
    return True


def once_per_event(listener: Callable[..., None]) -> Callable[..., None]:
    """An event listener that runs once per event id.

    The check is in the listener, not in a middleware: Bolt acks events before their listener runs, so
    the ack never waits for the database (under load, for a free connection: benchmarks/answer_latency
    --mix saw App Home opens wait seconds for their ack).
    """
    wanted = set(inspect.signature(listener).parameters)

    def run(body: dict[str, Any], context: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if not first_delivery(context, body):
            return
        given = {"body": body, "context": context, "event": event, "client": client}
        listener(**{name: value for name, value in given.items() if name in wanted})

    run.__name__ = run.__qualname__ = listener.__name__  # Bolt names listeners in its logs
    return run
