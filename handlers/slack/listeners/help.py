"""`/empathy`: help, and (in later features) settings and privacy requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.core.audit import recent, record
from bot.core.errors import UserFacingError
from bot.core.people import is_hr
from bot.registry import config_keys, describe_settings, set_setting
from handlers.slack.context import empathy_context
from handlers.slack.listeners.common import (
    context_block,
    ephemeral,
    error_text,
    escape,
    header,
    hint_text,
    mrkdwn_section,
    request_identity,
)
from handlers.slack.listeners.privacy import privacy_reply

HELP_TEXT = "Empathy Bot helps our company look after its people. Here is what I do and what I keep about you."

WHAT_I_DO = (
    "*What I do*\n"
    "• *Pulse surveys*: a few quick questions in a DM every week or two (`/pulse` shows yours). "
    "Confidential: results are only ever shown for groups of 5 or more.\n"
    "• *Anonymous suggestions*: `/suggest` an idea; the owners can reply and you can answer back, without "
    "them ever learning who you are (unless you choose to share your name).\n"
    "• *Kudos*: `/kudos @someone for what they did #value` thanks a colleague in the kudos channel and by DM "
    "(or privately); a reaction with the kudos emoji is a small thank-you too.\n"
    "• *Onboarding journeys*: a welcome, a checklist with Done buttons, a buddy and a few 1–5 check-ins in your "
    "first 90 days (`/onboard`). A check-in only reaches your manager if you tick 'share'.\n"
    "• *Digests for managers*: every week, how the team is doing and what might help, never who said what."
)

WHAT_I_STORE = (
    "*What I store about you*\n"
    "• From HR's org file or Slack's directory: your name, work email, team, manager, start date, "
    "time zone and Slack id, so I can reach you at a sensible hour.\n"
    "• The id of our direct-message conversation, so I don't have to ask Slack for it every time.\n"
    "• Messages I plan to send you, until they are sent.\n"
    "• While a pulse is open: that it was sent to you and whether you have answered yet (so only people who "
    "haven't get a reminder). I forget this when the pulse closes.\n"
    "• For each suggestion you send: a reply handle, encrypted with a key only the bot holds, so replies can "
    "reach you. `/suggest delete` with its reference (like `S-7KQ2`) removes the suggestion and its handle.\n"
    "• Kudos you gave and received, with their words and values (recognition is public by nature), and the "
    "messages you reacted to with the kudos emoji.\n"
    "• If you are onboarding: your journey's steps and which you ticked; a check-in's score and comment only "
    "if you chose to share them with your manager (otherwise just that, and when, you answered). Who buddies "
    "whom.\n"
    "*What I never store next to your name*: survey answers, anonymous suggestions and check-in scores you "
    "did not share. They are kept "
    "without any link to you, so nobody (not your manager, not HR, not an admin reading the database) "
    "can trace them back to you."
)

ABOUT_HOME = "Open my *Home* tab (click my name, then Home) to see what is there for you."


def help_blocks() -> list[dict[str, Any]]:
    return [
        header("Hi, I'm Empathy Bot 👋"),
        mrkdwn_section(HELP_TEXT),
        mrkdwn_section(WHAT_I_DO),
        mrkdwn_section(WHAT_I_STORE),
        context_block(
            ABOUT_HOME + " `/empathy privacy` shows everything I keep about you and can send you a copy. "
            "Questions about your data? Ask your HR team."
        ),
    ]


def _help(_text: str, _context: dict[str, Any]) -> dict[str, Any]:
    return ephemeral(HELP_TEXT, help_blocks())


def _config(text: str, context: dict[str, Any]) -> dict[str, Any]:
    """`/empathy config` lists the settings; `/empathy config <key> <value>` changes one (HR only)."""
    empathy = empathy_context(context)
    name, _, value = text.partition(" ")
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        if person is None or not is_hr(session, person, empathy.settings):
            return ephemeral(
                "Only HR admins can change my settings. If something here should be different, "
                "your HR team can change it with `/empathy config`."
            )
        if not name:
            lines = [
                f"• `{key.name}`: {hint_text(key.description)}. Now: {key.show(current) if current else '_not set_'}"
                for key, current in describe_settings(session, workspace, empathy.settings)
            ]
            return ephemeral(
                "*My settings for this workspace*\n" + "\n".join(lines) + "\nChange one with "
                "`/empathy config <setting> <value>`, for example `/empathy config kudos-channel #kudos`."
            )
        if not value.strip():
            return ephemeral(
                f"What should `{escape(name[:40])}` be? For example `/empathy config {escape(name[:40])} #channel`."
            )
        stored = set_setting(session, workspace, name.lower(), value)
        record(session, workspace.id, person.id, "config.set", name.lower())
        shown = config_keys()[name.lower()].show(stored)
    return ephemeral(f"Done: `{name.lower()}` is now {shown}.")


def _audit(_text: str, context: dict[str, Any]) -> dict[str, Any]:
    """`/empathy audit`: the latest admin actions (HR only). Who, what and when; never content."""
    empathy = empathy_context(context)
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        if person is None or not is_hr(session, person, empathy.settings):
            return ephemeral("Only HR admins can read the audit log. Your HR team can show it to you if you ask.")
        lines = [
            f"• {line.at:%Y-%m-%d %H:%M} UTC · {escape(line.actor)} ({line.via}) · `{escape(line.action)}`"
            + (f" {escape(line.subject)}" if line.subject else "")
            for line in recent(session, workspace.id, limit=30)
        ]
    if not lines:
        return ephemeral("No admin actions recorded yet. Changes to settings, imports and exports will show up here.")
    return ephemeral("*Latest admin actions* (newest first)\n" + "\n".join(lines))


SUBCOMMANDS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "help": _help,
    "config": _config,
    "audit": _audit,
    "privacy": privacy_reply,
}


def handle_empathy_command(ack: Ack, command: dict[str, Any], context: dict[str, Any]) -> None:
    # The reply goes in the ack itself: nothing here is slow, and it reaches the person at once.
    text = (command.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    handler = SUBCOMMANDS.get(name.lower() or "help")
    if handler is None:
        known = ", ".join(f"`/empathy {n}`" for n in SUBCOMMANDS)
        ack(
            **ephemeral(
                f"I don't know `/empathy {escape(name[:50])}`. You can use {known}; "
                "`/empathy help` explains what I do and what I store about you."
            )
        )
        return
    try:
        reply = handler(rest.strip(), context)
    except UserFacingError as error:
        reply = ephemeral(escape(error_text(error)))  # error messages may quote what someone typed
    then = reply.pop("_then", None)  # slow work (an upload) runs after Slack has its answer
    ack(**reply)
    if then is not None:
        then()


def register(app: App) -> None:
    app.command("/empathy")(handle_empathy_command)
