"""Logging set-up: plain lines for people, or one JSON object per line for log pipelines.

Nothing here adds user content: log calls across the bot pass ids, counts and states only, and the
Slack libraries (whose debug logs contain request bodies) are never allowed below INFO.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

QUIET_LIBRARIES = ("slack_sdk", "slack_bolt", "urllib3")
# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the JSON.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not root.handlers:  # like logging.basicConfig: a host that set up logging (pytest, gunicorn) keeps it
        root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
