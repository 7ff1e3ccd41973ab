"""Which Slack requests the web front may ack itself and hand to the inbox (bot/inbox.py).

Only requests that Bolt would ack with an empty 200 anyway and whose work needs no trigger_id
(those expire 3 s after the click): events, pulse answers and skips, and `/kudos` with text.
Everything else goes through Bolt as it arrives, because its ack carries an answer (a modal's
validation errors, a help text) or its work opens a modal.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from handlers.kudos import acks_empty as kudos_acks_empty
from handlers.pulse_views import ANSWER_ACTION, SELECT_ACTION, SKIP_ACTION

_PULSE_CLICK = re.compile(rf"^(?:{re.escape(ANSWER_ACTION)}\.\d+|{re.escape(SELECT_ACTION)}|{re.escape(SKIP_ACTION)})$")


def early_ack_kind(raw_body: str) -> str | None:
    """ "event", "click" or "command" if the request may be acked before its work runs, else None."""
    try:
        if raw_body.startswith("{"):
            body = json.loads(raw_body)
            return "event" if isinstance(body, dict) and body.get("type") == "event_callback" else None
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "payload" in form and "command" not in form:
            return "click" if _pulse_click(json.loads(form["payload"])) else None
        if form.get("command") == "/kudos" and kudos_acks_empty(form.get("text", "")):
            return "command"
    except (ValueError, TypeError, AttributeError):
        pass  # not Slack's shape: Bolt answers it, as it answers any malformed request
    return None


def _pulse_click(payload: Any) -> bool:
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return False
    actions = payload.get("actions")
    return (
        isinstance(actions, list)
        and len(actions) == 1
        and isinstance(actions[0], dict)
        and bool(_PULSE_CLICK.match(str(actions[0].get("action_id", ""))))
    )
