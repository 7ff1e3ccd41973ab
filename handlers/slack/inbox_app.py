"""Which inbox a process gets: one that accepts early acks, one that works them, or one that does both.

The Procfile's web processes accept and the worker works, so the web processes' interpreters do
nothing but ack; a single `empathy-bot serve` accepts and works. Socket Mode acks over its socket
and needs no inbox; `EMPATHY_WORK_THREADS=0` turns early acks off.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.settings import Settings
from bot.delivery.inbox import SERVE_POLL_SECONDS, WORKER_POLL_SECONDS, Inbox, inbox_engine
from handlers.slack.app import create_app
from handlers.slack.bolt_requests import bolt_request_of


def inbox_for(settings: Settings, *, engine: Engine, clock: Clock, accepts: bool, works: bool) -> Inbox | None:
    if not settings.early_acks or not (accepts or works):
        return None
    box = SecretBox(settings.secret_key)
    if not works:
        return Inbox(inbox_engine(settings.database_url), box)
    worker_app = create_app(settings, engine=engine, clock=clock, for_inbox=True)

    def handle(raw_body: str) -> None:
        worker_app.dispatch(bolt_request_of(raw_body))

    return Inbox(
        inbox_engine(settings.database_url),
        box,
        handle,
        threads=settings.work_threads,
        poll_seconds=SERVE_POLL_SECONDS if accepts else WORKER_POLL_SECONDS,
        # A worker beside web processes yields the CPU to their acks (EMPATHY_WORKER_NICE); `serve` does not.
        work_nice=0 if accepts else settings.worker_nice,
    )
