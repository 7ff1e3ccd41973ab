"""Commands the manifest declares whose features are still being built: a kind word, not a 404."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from handlers.common import ephemeral

COMING_SOON = {
    "/kudos": "Kudos aren't switched on yet.",
    "/suggest": "The anonymous suggestion box isn't open yet.",
    "/onboard": "Onboarding check-ins aren't switched on yet.",
}


def handle_coming_soon(ack: Ack, command: dict[str, Any]) -> None:
    not_yet = COMING_SOON.get(command.get("command", ""), "That isn't switched on yet.")
    ack(**ephemeral(f"{not_yet} It's on its way! `/empathy help` shows what I can do today."))
