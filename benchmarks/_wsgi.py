"""The bot's WSGI app for `gunicorn benchmarks._wsgi:app` (answer_latency --server gunicorn).

Settings come from the environment the benchmark passes to gunicorn; EMPATHY_BENCH_WEB_WORKS=0
makes these web processes only ack, as `empathy-bot serve --no-scheduler` does beside a worker. Log records of WARNING and
above go to stderr as one `LEVEL logger: first line` per record, which the benchmark counts.
"""

from __future__ import annotations

import logging
import os

from bot.core.settings import load_settings
from handlers.slack.app import create_app
from handlers.slack.web import create_web_app

logging.basicConfig(level=logging.WARNING, format="BENCHLOG %(levelname)s %(name)s: %(message)s")
app = create_web_app(create_app(load_settings()), works=os.environ.get("EMPATHY_BENCH_WEB_WORKS", "1") == "1")
