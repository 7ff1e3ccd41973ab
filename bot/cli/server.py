"""Production HTTP serving: the Flask adapter under gunicorn (Bolt's own server is for development), with
Teams' messaging endpoint on the same Flask app when Teams is configured (handlers/teams/web.py). A
Teams-only deployment (no Slack settings) gets Teams' endpoint, /healthz and /metrics, and no Slack route.

The scheduler, when this process runs it, lives in the gunicorn master: workers are forked and
recycled, the master is not, so jobs are never started twice by one `serve`. Without it (`serve
--no-scheduler`, beside `empathy-bot worker`) the web processes only ack, and the worker does the
work behind early acks too (handlers/slack/inbox_app.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.core.clock import SystemClock
from bot.core.database import make_engine, make_session_factory
from bot.core.settings import Settings
from bot.delivery.scheduler import Scheduler

if TYPE_CHECKING:
    from slack_bolt import App

    from handlers.teams.app import TokenProvider


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any], *, works: bool) -> None:
        self.settings = settings
        self.works = works
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Built inside each worker after the fork, so every worker has its own database pool.
        if not self.settings.slack:
            return create_front(self.settings, None, works=self.works)
        from handlers.slack.app import create_app

        return create_front(self.settings, create_app(self.settings), works=self.works)


def create_front(
    settings: Settings, bolt_app: App | None, *, works: bool = True, teams_token: TokenProvider | None = None
) -> Flask:
    """The web front: Slack's routes (when `bolt_app` is given), and Teams' POST /api/messages beside them
    when Teams is configured; /healthz and /metrics always. `teams_token` is the Teams SDK's outbound
    token hook (`handlers.teams.app.TokenProvider`), for tests."""
    if bolt_app is None:
        return _teams_only_front(settings, teams_token=teams_token)
    from handlers.slack.context import empathy_context_of
    from handlers.slack.web import create_web_app

    web = create_web_app(bolt_app, works=works)
    if settings.teams:
        from handlers.teams.web import mount_teams

        # Teams shares the worker's database pool and clock with Slack.
        empathy = empathy_context_of(bolt_app)
        mount_teams(web, settings, empathy.session_factory, clock=empathy.clock, token=teams_token)
    return web


def _teams_only_front(settings: Settings, *, teams_token: TokenProvider | None) -> Flask:
    """A deployment without Slack: Teams' endpoint and the health and metrics routes, nothing of Slack's
    mounted (its early acks and inbox are Slack's alone, so there is no inbox here)."""
    from handlers.slack.web import MAX_BODY_BYTES, add_ops_routes
    from handlers.teams.web import mount_teams

    if not settings.teams:
        raise ValueError("a front without Slack needs Teams configured")
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    clock = SystemClock()
    web = Flask("empathy-bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    add_ops_routes(web, settings, engine, session_factory, clock)
    mount_teams(web, settings, session_factory, clock=clock, token=teams_token)
    return web


def gunicorn_options(settings: Settings, scheduler: Scheduler | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": int(os.environ.get("WEB_CONCURRENCY", "2")),
        "worker_class": "gthread",
        # Bolt acks and then runs listeners on its own thread pool; threads keep acks fast under load.
        "threads": int(os.environ.get("WEB_THREADS", "8")),
        "timeout": 30,
        "graceful_timeout": 20,
        "accesslog": "-",
        # No query strings or bodies in access logs.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    }
    if scheduler is not None:
        options["when_ready"] = lambda _server: scheduler.start()
        options["on_exit"] = lambda _server: scheduler.shutdown()
    return options


def serve_http(settings: Settings, scheduler: Scheduler | None) -> None:
    # A web part run beside a worker leaves the work behind early acks to the worker.
    _Gunicorn(settings, gunicorn_options(settings, scheduler), works=scheduler is not None).run()
