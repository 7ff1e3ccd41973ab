"""Production HTTP serving: the Flask adapter under gunicorn (Bolt's own server is for development).

The scheduler, when this process runs it, lives in the gunicorn master: workers are forked and
recycled, the master is not, so jobs are never started twice by one `serve`. Without it (`serve
--no-scheduler`, beside `empathy-bot worker`) the web processes only ack, and the worker does the
work behind early acks too (handlers/slack/inbox_app.py).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.core.settings import Settings
from bot.delivery.scheduler import Scheduler


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
        from handlers.slack.app import create_app
        from handlers.slack.web import create_web_app

        return create_web_app(create_app(self.settings), works=self.works)


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
