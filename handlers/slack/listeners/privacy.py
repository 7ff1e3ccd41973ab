"""`/empathy privacy`: what I keep about you, in plain words; `/empathy privacy export` DMs a copy."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.audit import record
from bot.privacy import NOT_LINKED, personal_data
from handlers.slack.context import empathy_context
from handlers.slack.listeners.common import context_block, ephemeral, escape, header, mrkdwn_section, request_identity
from handlers.slack.render.message import json_text

logger = logging.getLogger(__name__)

EXPORT_FILENAME = "empathy-bot-my-data.json"
NOT_KNOWN = (
    "I don't have anything about you: you are not in our directory yet. "
    "Your pulse answers, if you ever gave any, are stored without any link to you."
)


def privacy_reply(text: str, context: dict[str, Any]) -> dict[str, Any]:
    """The `/empathy privacy [export]` reply; an export also carries the upload to run after the ack."""
    action = text.strip().lower()
    if action not in ("", "export"):
        return ephemeral(
            f"I don't know `/empathy privacy {escape(action[:40])}`. Use `/empathy privacy` to see what I keep "
            "about you, or `/empathy privacy export` for a copy in a DM."
        )
    empathy = empathy_context(context)
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        if person is None:
            return ephemeral(NOT_KNOWN)
        data = personal_data(session, person, box=empathy.box)
        if action == "export":
            record(session, workspace.id, person.id, "privacy.export", "own data")
    if action == "export":
        reply = ephemeral("I'm putting a copy of everything I keep about you in our DM. It'll be there in a moment.")
        reply["_then"] = _uploader(
            context, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=json_text)
        )
        return reply
    return ephemeral("What I keep about you", privacy_blocks(data))


def privacy_blocks(data: dict[str, Any]) -> list[dict[str, Any]]:
    profile = data["profile"]
    known = ", ".join(
        f"{label} {escape(str(profile[key]))}"
        for key, label in (
            ("name", "name"),
            ("email", "email"),
            ("team", "team"),
            ("manager", "manager"),
            ("start_date", "start date"),
            ("timezone", "time zone"),
        )
        if profile.get(key)
    )
    lines = [f"• *Your profile* (from HR's org file or Slack's directory): {known or 'nothing but your Slack id'}."]
    if data["roles"]:
        lines.append(f"• *Your roles here*: {', '.join(data['roles'])}.")
    for pulse in data["open_pulses"]:
        answered = "you have answered" if pulse["answered"] else "you haven't answered yet"
        lines.append(
            f"• *Open pulse of {pulse['pulse_of']}*: that it was sent to you and that {answered}. "
            "I forget this when the pulse closes."
        )
    if data["questions_recently_asked"]:
        lines.append(
            f"• *Which pulse questions you were asked lately* ({len(data['questions_recently_asked'])}), "
            "so you don't get the same ones every time."
        )
    if data["messages_waiting_to_be_sent"]:
        lines.append(f"• *Messages I'm about to send you*: {data['messages_waiting_to_be_sent']}.")
    for kind in ("suggestions", "kudos", "onboarding"):
        if summary := _summary(data.get(kind)):
            lines.append(f"• *{kind.capitalize()}*: {summary}.")
    return [
        header("What I keep about you"),
        mrkdwn_section("*Linked to you*\n" + "\n".join(lines)),
        mrkdwn_section("*Not linked to you*\n" + NOT_LINKED),
        context_block(
            "`/empathy privacy export` sends you all of this as a file. To have it all removed, ask your HR team: "
            "they can make me forget you."
        ),
    ]


def _summary(section: Any) -> str:
    """A feature's data in a few words: how many of each kind (the export has the details)."""
    if not isinstance(section, dict):
        return ""
    parts = []
    for key, value in section.items():
        count = len(value) if isinstance(value, list | dict) else value if isinstance(value, int) else None
        if count:
            parts.append(f"{count} {key.replace('_', ' ')}")
    return ", ".join(parts)


def _uploader(context: dict[str, Any], content: str) -> Callable[[], None]:
    client: WebClient = context["client"]
    user_id: str = context["user_id"]
    respond = context.get("respond")

    def upload() -> None:
        try:
            channel = client.conversations_open(users=user_id)["channel"]["id"]
            client.files_upload_v2(
                channel=channel,
                content=content,
                filename=EXPORT_FILENAME,
                title="Your data from Empathy Bot",
                initial_comment="Here is everything I keep that is linked to you, as you asked.",
            )
        except (SlackApiError, SlackClientError) as error:
            logger.warning("privacy export upload failed: %s", type(error).__name__)
            if respond is not None:
                respond(
                    text="Sorry, Slack didn't take the file just now. Please try `/empathy privacy export` again "
                    "in a minute.",
                    response_type="ephemeral",
                    replace_original=False,
                )

    return upload
