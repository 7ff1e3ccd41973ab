"""Logging set-up: plain lines for people, or one JSON object per line for log pipelines.

No level may log what people typed or chose. Three layers keep it so, whatever LOG_LEVEL says:

- Log calls across the bot pass ids, counts, states and exception type names only.
- The loggers that see Slack payloads (the Slack libraries, whose debug logs hold whole request and
  response bodies, and the logger our WebClients write to) are capped at INFO by `guard_loggers`,
  which `create_app` and `configure_logging` both run. The cap is set on each logger itself, so a
  root logger at DEBUG (LOG_LEVEL=DEBUG, or a host's own logging) does not lift it, and slack_sdk,
  which only builds its body dumps when its logger's own level is DEBUG, never builds them.
- `RedactPayloads` sits on those loggers and on every handler `configure_logging` touches: a record
  that still carries something payload-shaped (a dict or list argument, a Slack token, or, from the
  Slack loggers, JSON-ish "text"/"blocks"/"view"/"state" fields) keeps only its fixed opening words
  and a "withheld" notice before any handler formats it.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

# websockets (Socket Mode, handlers/slack/socket_mode.py) logs the opening bytes of every frame at DEBUG.
QUIET_LIBRARIES = ("slack_sdk", "slack_bolt", "urllib3", "websockets")
# The logger every WebClient we build writes to (handlers.slack.client): it sees every request body.
SLACK_CLIENT_LOGGER = "handlers.slack.client.web"
# Loggers whose records can carry payloads even above DEBUG: Bolt's app logger quotes request bodies
# in some warnings, and the OAuth stores log installation rows when they fail.
PAYLOAD_LOGGERS = (*QUIET_LIBRARIES, "slack_bolt.App", SLACK_CLIENT_LOGGER, "handlers.slack.installations")
_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")
_PAYLOAD_FIELDS = re.compile(
    r"""['"](text|blocks|view|state|values|value|payload|message|attachments|selected_option)['"]\s*:"""
)
WITHHELD = "message withheld: it may carry a Slack payload (ids and errors are logged elsewhere)"


def _payload_shaped(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
    if any(isinstance(a, dict | list | tuple | bytes) for a in args):
        return True
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: withhold rather than guess
        return True
    if _TOKEN.search(message):
        return True
    # JSON-ish fields only count from the loggers that see Slack traffic: the bot's own error lines
    # carry code frames (where `"text":` is source code, not someone's words) and must stay readable.
    from_slack = any(record.name == n or record.name.startswith(n + ".") for n in PAYLOAD_LOGGERS)
    return from_slack and bool(_PAYLOAD_FIELDS.search(message))


class RedactPayloads(logging.Filter):
    """Withholds payload-shaped records (they are kept, so the event still shows, but not their words)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _payload_shaped(record):
            # Keep the template's fixed opening ("Unhandled request", "Sending a request - url") so the
            # event still reads; it ends before the first bracket, colon or placeholder.
            opening = _TOKEN.sub("xox…", re.split(r"[{(\[:%]", str(record.msg), maxsplit=1)[0]).strip()[:60]
            record.msg, record.args = f"{opening or record.name}: {WITHHELD}", None
            record.exc_info, record.exc_text = None, None  # exception messages can quote the payload too
        return True


def _guard(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, RedactPayloads) for f in target.filters):
        target.addFilter(RedactPayloads())


def guard_loggers() -> None:
    """Cap the payload-bearing loggers at INFO and put the redaction filter on them. Idempotent."""
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET included: it would inherit a DEBUG root
            logger.setLevel(logging.INFO)
        _guard(logger)


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
    # APScheduler logs two lines for every run of every job ("Running job …", "… executed
    # successfully"): every 2 s for the outbox. Its warnings and errors still show; the heartbeat only
    # at DEBUG. The scheduler logs one line itself for each run that did something.
    logging.getLogger("apscheduler.executors").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    guard_loggers()
    for existing in root.handlers:  # every record that reaches output passes here, whichever logger made it
        _guard(existing)
