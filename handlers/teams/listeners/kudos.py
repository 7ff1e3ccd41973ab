"""Kudos on Teams: `kudos @Ana for …` typed to the bot, the "Give kudos for this" message action, and
`kudos channel` typed in a team channel to choose where shout-outs go.

What a kudos does (the fair-play rules, storing it once, the shout-out and the DMs through the outbox)
is `bot/kudos`' business, as on Slack; this module only reads what Teams sends. A mention arrives as
an `<at>Name</at>` tag in the text and a `mention` entity naming the person by their per-bot `29:` id.
People are keyed by their Entra object id (`handlers/teams/accounts.py`), so a mention is resolved by
the entity's `aadObjectId` when Teams gives one, else by the stored Teams accounts (the giver, or the
one active person with that display name). Teams does not deliver reactions to messages the bot did
not send, so there are no reaction kudos here; the message action is the light way instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from microsoft_teams.api import (
    Account,
    MentionEntity,
    MessageActivity,
    MessageExtensionFetchTaskInvokeActivity,
    MessageExtensionSubmitActionInvokeActivity,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.utils import extract_tenant_id
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.accounts import find_by_account
from bot.core.models import Person, PersonAccount, Workspace
from bot.core.people import is_hr
from bot.core.workspace_config import store_setting
from bot.delivery.inbound import Command
from bot.kudos import service
from bot.kudos import typed as typed_kudos
from bot.kudos.config import KUDOS_CHANNEL
from bot.kudos.models import CompanyValue
from bot.kudos.values import value_label
from handlers.teams.accounts import TEAMS, teams_workspace
from handlers.teams.commands import KUDOS_MESSAGE_ACTION
from handlers.teams.context import TeamsContext
from handlers.teams.render.markdown import escape, translate
from handlers.teams.render.message import CARD_CONTENT_TYPE, CARD_SCHEMA, PEOPLE_DATASET, error_text

logger = logging.getLogger(__name__)

HELP = (
    "**kudos @someone for what they did #value** thanks a colleague: they hear it from me, and the kudos "
    "channel sees it. Pick each person from the list Teams shows while you type @.\n\n"
    "- **kudos private @someone for …**: by a message to them only\n"
    "- **kudos stats**: what you gave and received\n"
    "- **kudos leaderboard**: the most thanked this month, if HR switched it on\n\n"
    "To thank someone for a message, open the message's **…** menu and choose **Give kudos for this**."
)
NOT_IN_DIRECTORY = (
    "I don't have you in the company directory yet, so I can't carry your kudos. Please ask HR to add you, "
    "then try again. Type **help** to see what I do."
)
NO_ONE = (
    "Who would you like to thank? Mention them with @ and pick them from the list Teams shows, for example "
    "**kudos @Ana for untangling the release on Friday**."
)
NOT_GROUPS = (
    "Kudos go to people, so I don't send them to a tag, a channel or a whole team. Please mention each "
    "person you want to thank with @."
)
ALREADY_SENT = "That kudos is already on its way (you sent the same words a moment ago), so I didn't send it twice."
CHANNEL_HOW = (
    "To choose where kudos shout-outs go, open that channel in the team, mention me and type **kudos channel** "
    "there. Only HR can change it."
)
CHANNEL_ONLY_HR = "Only HR can choose the kudos channel. Type **help** to see what I do; your HR team can set it."
CHANNEL_SET = (
    "Done: kudos shout-outs will be posted in this channel from now on, with everyone they thank mentioned. "
    "Private kudos still go by message only."
)
CHANNEL_PRIVATE = (
    "Teams doesn't let bots post in private or shared channels, so shout-outs could never appear here. "
    "Please type **kudos channel** in a standard channel instead."
)
LEADERBOARD_OFF = (
    "The leaderboard is off: public rankings can turn thanks into a contest. HR can switch it on (the "
    "kudos-leaderboard setting). **kudos stats** shows your own numbers."
)

# The dialog's inputs and the action that sends it.
DIALOG_TITLE = "Give kudos"
SUBMIT = "kudos_dialog_send"
RECIPIENTS = "recipients"
MESSAGE = "message"
VALUES = "values"
PRIVATE = "private"
ABOUT_LIMIT = 600

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_AT_TAG = re.compile(r"</?at[^>]*>", re.IGNORECASE)
_BARE_AT = re.compile(r"(?<![\w&])@([\w.\-]{1,60})")
# Mentions that are not a person: Teams marks tags, channels and teams, and their ids are thread ids.
_NOT_PEOPLE = frozenset({"tag", "channel", "team"})


# -- who is asking ----------------------------------------------------------------------------------


def _identity(session: Session, teams: TeamsContext, activity: Any) -> tuple[Workspace, Person | None] | None:
    """The tenant's workspace and the person who sent `activity` (None when we don't know them); None
    for an activity from another tenant, which a single-tenant bot never answers for."""
    tenant = extract_tenant_id(activity)
    if not tenant or tenant.lower() != (teams.settings.teams_tenant_id or "").lower():
        return None
    workspace = teams_workspace(session, tenant)
    aad = activity.from_.aad_object_id
    person = find_by_account(session, workspace, aad.lower()) if aad else None
    return workspace, person


# -- the typed command -----------------------------------------------------------------------------


@dataclass
class Typed:
    """A typed kudos with Teams' mentions taken out: the people mentioned, whether a tag, channel or
    team was, the names typed after @ that Teams did not turn into mentions, and the rest of the words."""

    people: list[Account] = field(default_factory=list)
    groups: bool = False
    unlinked: list[str] = field(default_factory=list)
    rest: str = ""


def parse_typed(words: str, activity: MessageActivity) -> Typed:
    """Take the mention entities' tags out of `words` (the command's words, as Teams sent them)."""
    typed = Typed()
    rest = words
    for entity in activity.entities or []:
        if not isinstance(entity, MentionEntity):
            continue
        tag = entity.text or f"<at>{entity.mentioned.name or ''}</at>"
        rest = rest.replace(tag, " ", 1)
        mentioned = entity.mentioned
        if mentioned.id == activity.recipient.id:
            continue  # the bot itself: how a team chat addresses it
        if mentioned.type in _NOT_PEOPLE or mentioned.id.startswith("19:"):
            typed.groups = True
        elif all(mentioned.id != seen.id for seen in typed.people):
            typed.people.append(mentioned)
    rest = _AT_TAG.sub(" ", rest)
    typed.unlinked = _BARE_AT.findall(rest)
    typed.rest = rest
    return typed


def _person_of(session: Session, workspace: Workspace, mentioned: Account, activity: MessageActivity) -> Person | None:
    """The person a mention names. Teams names them by their per-bot `29:` id; people are keyed by their
    Entra object id, which the entity may carry, or which the giver's own activity carries."""
    aad = mentioned.aad_object_id
    if not aad and _GUID.match(mentioned.id):
        aad = mentioned.id
    if not aad and mentioned.id == activity.from_.id:
        aad = activity.from_.aad_object_id
    if aad:
        return find_by_account(session, workspace, aad.lower())
    return _by_display_name(session, workspace, mentioned.name or "")


def _by_display_name(session: Session, workspace: Workspace, name: str) -> Person | None:
    """The one active person with a Teams account and this display name, or None (nobody, or two people
    of the same name: a kudos must never reach the wrong one)."""
    if not name.strip():
        return None
    found = session.scalars(
        select(Person)
        .join(PersonAccount, PersonAccount.person_id == Person.id)
        .where(
            PersonAccount.workspace_id == workspace.id,
            PersonAccount.platform == TEAMS,
            Person.active.is_(True),
            Person.name == name.strip(),
        )
        .limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def _give_typed(
    session: Session, teams: TeamsContext, workspace: Workspace, giver: Person, words: str, activity: MessageActivity
) -> str:
    private, after = typed_kudos.leading_private(words)
    typed = parse_typed(after, activity)
    if typed.groups:
        return NOT_GROUPS
    if not typed.people:
        if typed.unlinked:
            return (
                f"I couldn't tell who @{escape(typed.unlinked[0][:40])} is. Pick them from the list Teams shows "
                "while you type @, so their name turns into a mention, then send it again."
            )
        return NO_ONE
    if len(typed.people) > service.MAX_RECIPIENTS:
        return service.too_many(len(typed.people))
    recipients: list[Person] = []
    for mentioned in typed.people:
        person = _person_of(session, workspace, mentioned, activity)
        if person is None:
            return (
                f"I don't know {escape(mentioned.name or 'that person')} yet, so I can't thank them. If they joined "
                "today, the directory catches up overnight; otherwise please check the name."
            )
        recipients.append(person)
    try:
        outcome = typed_kudos.give_typed(
            session,
            workspace,
            giver,
            recipients,
            typed_kudos.words_of(typed.rest, private=private),
            teams.settings,
            teams.clock.now(),
        )
    except service.KudosRefused as refused:
        return error_text(refused)
    if isinstance(outcome, typed_kudos.AlreadySent):
        return ALREADY_SENT
    sent = sent_text(outcome.recipients, posted=outcome.posted_in is not None, left=outcome.left_today)
    return sent + (f"\n\n{translate(outcome.note)}" if outcome.note else "")


def sent_text(recipients: list[Person], *, posted: bool, left: int) -> str:
    names = _names(recipients)
    where = (
        f"It's posted in the kudos channel, and I've written to {names}."
        if posted
        else f"I've written to {names}; it wasn't posted anywhere else."
    )
    more = f"You can give {left} more today." if left else "That was your last one for today."
    return f"🙌 Thank you for noticing! {where} {more}"


def _names(people: list[Person]) -> str:
    names = [f"**{escape(p.name or 'them')}**" for p in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def stats_text(found: service.Stats, values: list[CompanyValue]) -> str:
    known = {v.tag: v for v in values}
    lines = [
        "**Your kudos** (only you can see this)",
        f"In the last 30 days you gave {found.given_recently} and received {found.received_recently}. Since the "
        f"start: {found.given} given, {found.received} received. These include private kudos, which count nowhere "
        "else.",
    ]
    if found.values_received:
        shown = ", ".join(
            f"{escape(value_label(known[tag])) if tag in known else escape('#' + tag)} ×{n}"
            for tag, n in found.values_received[:8]
        )
        lines.append(f"What people see in you: {shown}.")
    elif found.received == 0:
        lines.append("Nobody has tagged you yet; that says nothing about your work. Kudos are still new here.")
    return "\n\n".join(lines)


def leaderboard_text(rows: list[tuple[Person, int]]) -> str:
    if not rows:
        return (
            "Nobody has been thanked in public in the last 30 days yet. Be the first: "
            "**kudos @someone for what they did**."
        )
    lines = [f"{i}. {escape(p.name or 'someone')}: {n}" for i, (p, n) in enumerate(rows, start=1)]
    # Private kudos are left out (bot.kudos.service.seen_by_others): the title says so, truthfully.
    return "**Most thanked in public in the last 30 days**\n\n" + "\n".join(lines) + "\n\nEvery thank-you counts."


def _answer(teams: TeamsContext, activity: MessageActivity, words: str) -> str | None:
    """What the bot says to a `kudos …` message (None: nothing, for another tenant). Runs in a thread:
    the database work is synchronous."""
    word = words.strip().lower()
    if word == "help" or not word:
        return HELP
    with teams.session_factory.begin() as session:
        who = _identity(session, teams, activity)
        if who is None:
            return None
        workspace, giver = who
        if giver is None or not giver.active:
            return NOT_IN_DIRECTORY
        if word == "stats":
            return stats_text(
                service.stats(session, giver, teams.clock.now()), service.values_of(session, workspace.id)
            )
        if word == "leaderboard":
            if not service.rules(session, workspace, teams.settings).leaderboard:
                return LEADERBOARD_OFF
            return leaderboard_text(service.leaderboard(session, workspace, teams.clock.now() - service.QUIET_AFTER))
        if word == "channel":
            return _set_channel(session, teams, workspace, giver, activity)
        return _give_typed(session, teams, workspace, giver, words, activity)


async def kudos_command(ctx: ActivityContext[MessageActivity], teams: TeamsContext, command: Command) -> None:
    reply = await asyncio.to_thread(_answer, teams, ctx.activity, command.words)
    if reply:
        await ctx.send(reply)


# -- the kudos channel -----------------------------------------------------------------------------


def channel_of(activity: MessageActivity) -> str | None:
    """The channel a team-channel message was posted in: its conversation id without the thread's
    `;messageid=…`, which is where a new post in that channel goes."""
    if activity.conversation.conversation_type != "channel":
        return None
    data = activity.channel_data
    channel = data.channel.id if data is not None and data.channel is not None and data.channel.id else None
    return channel or activity.conversation.id.split(";", 1)[0]


def _set_channel(
    session: Session, teams: TeamsContext, workspace: Workspace, person: Person, activity: MessageActivity
) -> str:
    channel = channel_of(activity)
    if channel is None:
        return CHANNEL_HOW
    if not is_hr(session, person, teams.settings):
        return CHANNEL_ONLY_HR
    data = activity.channel_data
    kind = data.channel.type if data is not None and data.channel is not None else None
    if kind in {"private", "shared"}:
        return CHANNEL_PRIVATE
    store_setting(session, workspace, KUDOS_CHANNEL, channel)
    logger.info("kudos channel set on a Teams workspace")
    return CHANNEL_SET


# -- the message action and its dialog --------------------------------------------------------------


def dialog_card(
    values: list[CompanyValue],
    *,
    value_required: bool,
    dialog_id: str,
    author: tuple[str, str] | None = None,
    about: str = "",
    problem: str = "",
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The kudos form: who (Teams' people picker, the message's author filled in), what for, values, and
    whether it stays private. `given` refills what the person entered when the form comes back with a
    `problem` to fix."""
    given = given or {}
    body: list[dict[str, Any]] = []
    if problem:
        body.append({"type": "TextBlock", "text": problem, "wrap": True, "color": "Attention"})
    if about:
        quoted = about if len(about) <= ABOUT_LIMIT else about[: ABOUT_LIMIT - 1] + "…"
        body.append(
            {
                "type": "Container",
                "style": "emphasis",
                "items": [
                    {"type": "TextBlock", "text": "For this message", "weight": "Bolder", "size": "Small"},
                    {"type": "TextBlock", "text": escape(quoted), "wrap": True, "spacing": "None"},
                ],
            }
        )
    picker: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": RECIPIENTS,
        "label": "Who made a difference?",
        "isMultiSelect": True,
        "isRequired": True,
        "errorMessage": "Pick at least one person to thank.",
        "placeholder": "Type a name",
        "choices": [],
        "choices.data": {"type": "Data.Query", "dataset": PEOPLE_DATASET},
    }
    if author is not None:
        # A static choice for the author, so the picker shows their name before anyone types.
        picker["choices"] = [{"title": author[1] or "The author", "value": author[0]}]
    if given.get(RECIPIENTS) or author is not None:
        picker["value"] = str(given.get(RECIPIENTS) or (author[0] if author else ""))
    body.append(picker)
    body.append(
        {
            "type": "Input.Text",
            "id": MESSAGE,
            "label": "What did they do?",
            "isMultiline": True,
            "isRequired": True,
            "errorMessage": "Tell them what for, in a sentence or two.",
            "maxLength": service.MESSAGE_LIMIT,
            "placeholder": "Thank you for untangling the release on Friday…",
            "value": str(given.get(MESSAGE) or ""),
        }
    )
    if values:
        choice: dict[str, Any] = {
            "type": "Input.ChoiceSet",
            "id": VALUES,
            "label": "Which of our values did it show?" + ("" if value_required else " (optional)"),
            "isMultiSelect": True,
            "style": "expanded",
            "isRequired": value_required,
            "choices": [{"title": value_label(v)[:75], "value": v.tag} for v in values[:100]],
        }
        if given.get(VALUES):
            choice["value"] = str(given[VALUES])
        body.append(choice)
    body.append(
        {
            "type": "Input.Toggle",
            "id": PRIVATE,
            "title": "Only them: send it as a message, don't post it in the kudos channel",
            "value": "true" if str(given.get(PRIVATE, "false")).lower() == "true" else "false",
            "valueOn": "true",
            "valueOff": "false",
        }
    )
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": "1.5",
        "body": body,
        "actions": [
            {
                "type": "Action.Submit",
                "title": "Send kudos",
                "style": "positive",
                "data": {"action": SUBMIT, "dialog": dialog_id},
            }
        ],
    }


def _done_card(text: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
    }


def _continue(card: dict[str, Any], title: str = DIALOG_TITLE) -> dict[str, Any]:
    """A message extension's answer that shows `card` in the dialog."""
    return {
        "task": {
            "type": "continue",
            "value": {"title": title, "card": {"contentType": CARD_CONTENT_TYPE, "content": card}},
        }
    }


def _message_author(activity: MessageExtensionFetchTaskInvokeActivity) -> tuple[tuple[str, str] | None, str]:
    """The Entra object id and name of who wrote the message, and its text (Teams sends it as HTML)."""
    message = activity.value.message_payload
    if message is None:
        return None, ""
    user = message.from_.user if message.from_ is not None else None
    author = (user.id, user.display_name or "") if user is not None and _GUID.match(user.id) else None
    body = message.body
    about = ""
    if body is not None:
        about = (
            body.text_content or _html_text(body.content or "") if body.content_type == "html" else body.content or ""
        )
    return author, about.strip()


def _html_text(html: str) -> str:
    import html as html_module

    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", html, flags=re.IGNORECASE)
    return html_module.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _open(teams: TeamsContext, activity: MessageExtensionFetchTaskInvokeActivity) -> dict[str, Any]:
    author, about = _message_author(activity)
    with teams.session_factory() as session:
        who = _identity(session, teams, activity)
        if who is None:
            return _continue(_done_card("This app isn't set up for your organisation."))
        workspace, giver = who
        if giver is None or not giver.active:
            return _continue(_done_card(NOT_IN_DIRECTORY))
        rules = service.rules(session, workspace, teams.settings)
        card = dialog_card(
            service.values_of(session, workspace.id),
            value_required=rules.require_value,
            dialog_id=uuid.uuid4().hex,
            author=author,
            about=about,
        )
    return _continue(card)


def _split(value: Any) -> list[str]:
    """A multi-select's value: Teams sends the chosen values joined by commas."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _submit(teams: TeamsContext, activity: MessageExtensionSubmitActionInvokeActivity) -> dict[str, Any]:
    data = activity.value.data if isinstance(activity.value.data, dict) else {}
    dialog_id = str(data.get("dialog") or "")[:64]
    now = teams.clock.now()
    with teams.session_factory.begin() as session:
        who = _identity(session, teams, activity)
        if who is None:
            return _continue(_done_card("This app isn't set up for your organisation."))
        workspace, giver = who
        if giver is None or not giver.active:
            return _continue(_done_card(NOT_IN_DIRECTORY))
        values = service.values_of(session, workspace.id)
        rules = service.rules(session, workspace, teams.settings)

        def again(problem: str) -> dict[str, Any]:
            card = dialog_card(
                values, value_required=rules.require_value, dialog_id=dialog_id, problem=problem, given=data
            )
            return _continue(card)

        ids = _split(data.get(RECIPIENTS))
        if not dialog_id:
            return again("Something in this form got lost on the way. Please fill it in again and send it.")
        if not ids:
            return again("Pick at least one person to thank.")
        if len(ids) > service.MAX_RECIPIENTS:
            return again(service.too_many(len(ids)))
        recipients = [find_by_account(session, workspace, i.lower()) if _GUID.match(i) else None for i in ids]
        if any(r is None for r in recipients):
            return again(
                "Someone here isn't in the company directory yet, so I can't thank them. If they joined today, "
                "the directory catches up overnight."
            )
        try:
            given = service.give(
                session,
                workspace,
                giver,
                [r for r in recipients if r is not None],
                str(data.get(MESSAGE) or ""),
                _split(data.get(VALUES)),
                private=str(data.get(PRIVATE, "false")).lower() == "true",
                # One dialog gives one kudos, however often its Send is pressed or delivered.
                submit_key=f"teams-dialog:{dialog_id}",
                settings=teams.settings,
                now=now,
            )
        except service.KudosRefused as refused:
            return again(error_text(refused))
        if given.created:
            channel = service.announce(session, workspace, given.kudos, giver, given.recipients, teams.settings, now)
        else:  # the same dialog sent again: say what the first one did
            channel = None if given.kudos.private else service.channel_for(session, workspace, teams.settings)
        text = sent_text(given.recipients, posted=channel is not None, left=given.left_today)
    return _continue(_done_card(text), "Kudos sent")


# A message action the app package no longer lists (an older package still installed): answered in words,
# not with nothing, which opens no dialog (Teams shows its own error) or closes one as if it had worked.
UNKNOWN_ACTION = {
    "task": {
        "type": "message",
        "value": "I don't know that action (the app may need updating), so nothing was done. "
        "Type help in my chat to see what I can do.",
    }
}


def register(app: App, teams: TeamsContext) -> None:
    @app.on_message_ext_open
    async def open_dialog(ctx: ActivityContext[MessageExtensionFetchTaskInvokeActivity]) -> Any:
        if ctx.activity.value.command_id != KUDOS_MESSAGE_ACTION:
            return UNKNOWN_ACTION
        return await asyncio.to_thread(_open, teams, ctx.activity)

    @app.on_message_ext_submit
    async def submit_dialog(ctx: ActivityContext[MessageExtensionSubmitActionInvokeActivity]) -> Any:
        if ctx.activity.value.command_id != KUDOS_MESSAGE_ACTION:
            return UNKNOWN_ACTION
        return await asyncio.to_thread(_submit, teams, ctx.activity)


COMMANDS = {"kudos": kudos_command}
# Answered where the bot is @mentioned in a team channel or group chat, too.
CHANNEL_COMMANDS = {"kudos": kudos_command}
