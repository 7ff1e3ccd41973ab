"""Which Slack requests the web front may ack itself and hand to the inbox (bot/delivery/inbox.py).

Only requests that Bolt would ack with an empty 200 anyway and whose work needs no trigger_id
(those expire 3 s after the click): events, pulse answers and skips, and `/kudos` with text.
Everything else goes through Bolt as it arrives, because its ack carries an answer (a modal's
validation errors, a help text) or its work opens a modal.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from handlers.slack.listeners.kudos import acks_empty as kudos_acks_empty
from handlers.slack.render.pulse import ANSWER_ACTION, SELECT_ACTION, SKIP_ACTION

_PULSE_CLICK = re.compile(rf"^(?:{re.escape(ANSWER_ACTION)}\.\d+|{re.escape(SELECT_ACTION)}|{re.escape(SKIP_ACTION)})$")


class EarlyAck(NamedTuple):
    """What kind of request the web front may ack itself, and who sent it (team and user ids, so the
    inbox can apply one person's requests in the order they arrived); `who` is None when it names nobody."""

    kind: str
    who: str | None


def early_ack_of(raw_body: str) -> EarlyAck | None:
    """An "event", "click" or "command" if the request may be acked before its work runs, else None."""
    try:
        if raw_body.startswith("{"):
            body = json.loads(raw_body)
            if not isinstance(body, dict) or body.get("type") != "event_callback":
                return None
            event = body.get("event")
            user = event.get("user") if isinstance(event, dict) else None
            return EarlyAck("event", _who(body.get("team_id"), user))
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "payload" in form and "command" not in form:
            payload = json.loads(form["payload"])
            if not _pulse_click(payload):
                return None
            return EarlyAck("click", _who(_id_of(payload.get("team")), _id_of(payload.get("user"))))
        if form.get("command") == "/kudos" and kudos_acks_empty(form.get("text", "")):
            return EarlyAck("command", _who(form.get("team_id"), form.get("user_id")))
    except (ValueError, TypeError, AttributeError):
        pass  # not Slack's shape: Bolt answers it, as it answers any malformed request
    return None


def _id_of(part: Any) -> Any:
    return part.get("id") if isinstance(part, dict) else None


def _who(team: Any, user: Any) -> str | None:
    return f"{team}:{user}" if isinstance(user, str) and user else None


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
