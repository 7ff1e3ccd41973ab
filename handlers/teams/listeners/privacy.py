"""`privacy` in the personal chat: what I keep about you; `privacy export`, a copy; `privacy forget`, after
a confirmation, forgetting you. The platform-neutral work is `bot/privacy.py`'s, as on Slack.

Everything here answers only the person who asked, and only in their own 1:1 chat with the bot: the
sender is who Teams signed the activity for (its Entra object id), and a request whose conversation is
not that person's own chat with the bot (as stored when they installed the app) is refused, so no data
can be sent into someone else's conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from microsoft_teams.api import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
    AdaptiveCardInvokeActivity,
    AdaptiveCardInvokeResponse,
    MessageActivity,
    MessageActivityInput,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.cards import AdaptiveCard

from bot.core.audit import record
from bot.core.message import Actions, Button, Heading, Literal, Message, Note, Section, Text, text
from bot.core.models import Person, Platform
from bot.delivery.inbound import Command
from bot.privacy import NOT_KNOWN, forget, personal_data, privacy_message
from handlers.teams.accounts import ConversationRef
from handlers.teams.context import PERSONAL, TeamsContext
from handlers.teams.listeners.home import find_viewer, viewer_of
from handlers.teams.render.markdown import escape
from handlers.teams.render.message import Names, plain_text, render

logger = logging.getLogger(__name__)

FORGET_ACTION = "privacy.forget"
KEEP_ACTION = "privacy.keep"
# The bytes of the export's lines per message, as rendered (each line a monospace TextBlock: JSON's
# punctuation becomes character references, spaces no-break spaces), well inside Teams' 100 KB.
EXPORT_PART_BYTES = 70_000
LINE_OVERHEAD = 90  # the TextBlock's own JSON around each line

NOT_YOUR_CHAT = (
    "I only answer privacy requests in our own 1:1 chat, so that what I keep about you reaches nobody else. "
    "Open a chat with me (Empathy Bot) and type privacy there."
)
UNKNOWN = "I know privacy, privacy export and privacy forget. Type privacy to see what I keep about you."
FORGET_QUESTION = (
    "Forget everything linked to you? I'll remove your name, email, team, manager, start date and time zone, "
    "your open pulse invitations, the messages I keep for you, your kudos, suggestion reply handles and "
    "onboarding journey. Your anonymous pulse answers stay, because nothing links them to you. This can't be "
    "undone, and I won't be able to write to you here any more."
)
FORGOTTEN = (
    "Done: I have forgotten everything linked to you. If the directory is synced again while you still work "
    "here, it may add you back as a new person; your HR team can tell you more."
)
KEPT = "Nothing was forgotten; everything stays as it was. Type privacy to see what I keep."
NOTHING_LEFT = "There is nothing linked to you any more, so there is nothing to forget."


def export_json(data: dict[str, Any]) -> str:
    def words(value: Any) -> str:
        if isinstance(value, Text):
            return plain_text(value, Names())
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=words)


def export_messages(content: str) -> list[Message]:
    """The export as messages of monospace JSON, in parts small enough for Teams, never cut mid-line."""
    parts: list[list[str]] = [[]]
    size = 0
    for line in content.splitlines():
        cost = len(escape(line).replace(" ", "\u00a0").encode()) + LINE_OVERHEAD
        if size + cost > EXPORT_PART_BYTES and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += cost
    total = len(parts)
    messages = []
    for number, lines in enumerate(parts, 1):
        of = f" (part {number} of {total})" if total > 1 else ""
        blocks = [
            Heading(f"Your data from Empathy Bot{of}"),
            Section(text("```", Literal("\n".join(lines)), "```")),
        ]
        if number == total:
            blocks.append(Note(text("That is everything I keep that is linked to you, as JSON. Copy it to keep it.")))
        messages.append(Message(text(f"Your data from Empathy Bot{of}"), tuple(blocks)))
    return messages


def _own_chat(teams: TeamsContext, ctx: ActivityContext[Any]) -> tuple[str, str] | None:
    """The sender's (tenant, Entra object id) if this activity is in their own 1:1 chat with the bot."""
    if ctx.activity.conversation.conversation_type != PERSONAL:
        return None
    return viewer_of(teams, ctx.activity)


def _elsewhere(person: Person, conversation_id: str) -> bool:
    """Whether `conversation_id` is not the person's own 1:1 chat with the bot. Teams gives each person one
    such chat, stored when they installed the app: a request from any other is not theirs to answer in."""
    account = person.account(Platform.TEAMS.value)
    if account is None or not account.conversation_ref:
        return False  # no install seen yet: the personal conversation Teams signed is the only one we know
    return ConversationRef.from_json(account.conversation_ref).conversation_id != conversation_id


def _lookup(teams: TeamsContext, tenant: str, aad: str, conversation_id: str, *, export: bool) -> Any:
    """What `privacy` / `privacy export` answers: NOT_YOUR_CHAT, NOT_KNOWN, or the person's data."""
    with teams.session_factory.begin() as session:
        workspace, person = find_viewer(session, tenant, aad)
        if workspace is None or person is None:
            return NOT_KNOWN
        if _elsewhere(person, conversation_id):
            return NOT_YOUR_CHAT
        data = personal_data(session, person, box=teams.box)
        if export:
            record(session, workspace.id, person.id, "privacy.export", "own data", via="teams")
        return data


async def privacy_command(ctx: ActivityContext[MessageActivity], teams: TeamsContext, typed: Command) -> None:
    action = typed.words.strip().lower()
    if action not in ("", "export", "forget"):
        await ctx.send(UNKNOWN)
        return
    viewer = _own_chat(teams, ctx)
    if viewer is None:
        await ctx.send(NOT_YOUR_CHAT)
        return
    if action == "forget":
        await ctx.send(MessageActivityInput.model_validate(render(forget_question())))
        return
    found = await asyncio.to_thread(_lookup, teams, *viewer, ctx.activity.conversation.id, export=action == "export")
    if isinstance(found, str):
        await ctx.send(found)
        return
    if action == "export":
        for message in export_messages(export_json(found)):
            await ctx.send(MessageActivityInput.model_validate(render(message)))
        return
    await ctx.send(MessageActivityInput.model_validate(render(privacy_message(found, can_forget=True))))


def forget_question() -> Message:
    return Message(
        text("Forget everything linked to you?"),
        (
            Heading("Forget everything linked to you?"),
            Section(text(FORGET_QUESTION)),
            Actions(
                (
                    Button("Yes, forget me", FORGET_ACTION, "confirm", style="danger", shortcodes=False),
                    Button("Keep everything", KEEP_ACTION, "keep", shortcodes=False),
                ),
                block_id="privacy.forget",
            ),
        ),
    )


def _forget(teams: TeamsContext, tenant: str, aad: str, conversation_id: str) -> str:
    now = teams.clock.now()
    with teams.session_factory.begin() as session:
        workspace, person = find_viewer(session, tenant, aad)
        if workspace is None or person is None:
            return NOTHING_LEFT
        if _elsewhere(person, conversation_id):
            return NOT_YOUR_CHAT
        done = forget(session, person, box=teams.box, now=now, actor_id=person.id, via="teams")
    logger.info("a person asked to be forgotten on Teams: %d kinds of data removed", len(done))
    return FORGOTTEN


def _card_reply(words: str) -> AdaptiveCardInvokeResponse:
    """The confirmation card replaced by the outcome, so its buttons cannot be pressed again."""
    activity = render(Message(text(words), (Section(text(words)),)))
    return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(activity["attachments"][0]["content"]))


COMMANDS = {"privacy": privacy_command}


def register(app: App, teams: TeamsContext) -> None:
    @app.on_card_action_execute(FORGET_ACTION)
    async def confirm_forget(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        viewer = _own_chat(teams, ctx)
        if viewer is None:
            return AdaptiveCardActionMessageResponse(value=NOT_YOUR_CHAT)
        said = await asyncio.to_thread(_forget, teams, *viewer, ctx.activity.conversation.id)
        return _card_reply(said)

    @app.on_card_action_execute(KEEP_ACTION)
    async def keep(_ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        return _card_reply(KEPT)
