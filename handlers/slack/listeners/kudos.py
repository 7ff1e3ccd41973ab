"""Recognition shout-outs (issue #6): `/kudos`, the modal and the message shortcut, emoji reactions,
stats and the opt-in leaderboard, and the App Home section with HR's values editor.

`/kudos` acks at once and answers the giver through the response_url once the kudos is checked and
stored; the post and the DMs go through the outbox.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.models import Person, Workspace
from bot.core.people import HomeRole, find_person, is_hr
from bot.core.settings import Settings
from bot.kudos import service
from bot.kudos import typed as typed_kudos
from bot.kudos.values import ValuesError, as_lines, parse_lines, replace_values
from handlers.slack.context import AppContext, empathy_context, once_per_event
from handlers.slack.listeners.common import ephemeral, error_text, escape, request_identity
from handlers.slack.render import kudos as views

logger = logging.getLogger(__name__)

HELP = (
    "*`/kudos @someone for what they did #value`* thanks a colleague in the kudos channel and by DM. "
    "`/kudos` alone opens a form; *Give kudos for this* in a message's ⋯ menu thanks its author.\n"
    "• `/kudos private @someone for …`: by DM only\n"
    "• `/kudos stats`: what you gave and received\n"
    "• `/kudos leaderboard`: the most thanked this month, if HR switched it on\n"
    "A reaction with the kudos emoji counts as a small thank-you too."
)
NOT_IN_DIRECTORY = (
    "I don't have you in the company directory yet, so I can't carry your kudos. Please ask HR to add you, "
    "then try again. `/empathy help` explains what I do."
)


# -- /kudos ----------------------------------------------------------------------------------------


def acks_empty(text: str) -> bool:
    """Whether `/kudos <text>` is acked with nothing and its work needs no trigger_id: everything but help
    and the modal. The web front may then ack it itself and run it from the inbox (handlers/slack/early_ack.py)."""
    word = text.strip().lower()
    return bool(word) and word != "help"


def handle_kudos_command(
    ack: Ack, command: dict[str, Any], context: dict[str, Any], client: WebClient, respond: Respond
) -> None:
    empathy = empathy_context(context)
    text = (command.get("text") or "").strip()
    word = text.lower()
    if word == "help":
        ack(**ephemeral(HELP))
        return
    # Ack before touching the database: under load, checking the rules and storing the kudos can take
    # longer than Slack waits. The giver hears back through the response_url a moment later.
    ack()
    with empathy.session_factory.begin() as session:
        workspace, giver = request_identity(session, context)
        if giver is None or not giver.active:
            respond(**ephemeral(NOT_IN_DIRECTORY))
            return
        if word == "stats":
            found = service.stats(session, giver, empathy.clock.now())
            respond(**ephemeral(views.stats_text(found, service.values_of(session, workspace.id))))
            return
        if word == "leaderboard":
            respond(**ephemeral(_leaderboard(session, workspace, empathy)))
            return
        if not text:
            client.views_open(trigger_id=command["trigger_id"], view=_modal(session, workspace, empathy.settings))
            return
        reply = _give_typed(session, workspace, giver, text, empathy)
    respond(**ephemeral(reply))


def _modal(
    session: Session,
    workspace: Workspace,
    settings: Settings,
    *,
    recipients: list[str] | None = None,
    item: tuple[str, str] | None = None,
    about: str = "",
) -> dict[str, Any]:
    rules = service.rules(session, workspace, settings)
    return views.kudos_modal(
        service.values_of(session, workspace.id),
        value_required=rules.require_value,
        recipients=recipients,
        item=item,
        about=about,
    )


def _leaderboard(session: Session, workspace: Workspace, empathy: AppContext) -> str:
    if not service.rules(session, workspace, empathy.settings).leaderboard:
        return (
            "The leaderboard is off: public rankings can turn thanks into a contest. HR can switch it on with "
            "`/empathy config kudos-leaderboard on`. `/kudos stats` shows your own numbers."
        )
    since = empathy.clock.now() - service.QUIET_AFTER
    return views.leaderboard_text(service.leaderboard(session, workspace, since))


def _give_typed(session: Session, workspace: Workspace, giver: Person, text: str, empathy: AppContext) -> str:
    typed = views.parse_typed(text)
    if typed.groups:
        return "Kudos go to people, so I don't send them to groups like @channel or a user group. Please mention each person with @."
    if typed.channels:
        return "Kudos go to people, not channels. Mention the people you want to thank with @, for example `/kudos @ana for …`."
    if typed.unlinked and not typed.user_ids:
        return (
            f"I couldn't tell who `@{escape(typed.unlinked[0][:40])}` is. Pick them from the list Slack shows while "
            "you type @, so their name turns into a link, then send it again."
        )
    if len(typed.user_ids) > service.MAX_RECIPIENTS:
        return service.too_many(len(typed.user_ids))
    recipients, unknown = _people(session, workspace, typed.user_ids)
    if unknown:
        return (
            f"I don't know <@{unknown[0]}> yet, so I can't thank them. If they joined today, the directory "
            "catches up overnight; otherwise please check the name."
        )
    try:
        outcome = typed_kudos.give_typed(
            session, workspace, giver, recipients, typed.words, empathy.settings, empathy.clock.now()
        )
    except service.KudosRefused as refused:
        return error_text(refused)
    if isinstance(outcome, typed_kudos.AlreadySent):
        return "That kudos is already on its way (you sent the same words a moment ago), so I didn't send it twice."
    sent = views.sent_text(outcome.recipients, posted_in=outcome.posted_in, left=outcome.left_today)
    return sent + (f"\n{outcome.note}" if outcome.note else "")


def _people(session: Session, workspace: Workspace, user_ids: list[str]) -> tuple[list[Person], list[str]]:
    found, unknown = [], []
    for user_id in user_ids:
        person = find_person(session, workspace, user_id)
        if person is None:
            unknown.append(user_id)
        else:
            found.append(person)
    return found, unknown


# -- the modal and the message shortcut --------------------------------------------------------------


def handle_open_button(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    empathy = empathy_context(context)
    with empathy.session_factory() as session:
        workspace, _ = request_identity(session, context)
        modal = _modal(session, workspace, empathy.settings)
    client.views_open(trigger_id=body["trigger_id"], view=modal)


def handle_message_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    empathy = empathy_context(context)
    message = shortcut.get("message") or {}
    author = message.get("user")
    channel = (shortcut.get("channel") or {}).get("id")
    item = (channel, message["ts"]) if channel and message.get("ts") else None
    with empathy.session_factory() as session:
        workspace, _ = request_identity(session, context)
        modal = _modal(
            session,
            workspace,
            empathy.settings,
            recipients=[author] if isinstance(author, str) else None,
            item=item,
            about=str(message.get("text") or ""),
        )
    client.views_open(trigger_id=shortcut["trigger_id"], view=modal)


def _state(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    found = view.get("state", {}).get("values", {}).get(block, {}).get(action)
    return found if isinstance(found, dict) else {}


def _metadata_item(view: dict[str, Any]) -> tuple[str, str] | None:
    try:
        item = json.loads(view.get("private_metadata") or "{}").get("item")
    except (ValueError, AttributeError):
        return None
    if isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item):
        return item[0][:32], item[1][:32]
    return None


FIELD_BLOCKS = {"message": views.MESSAGE_BLOCK, "values": views.VALUES_BLOCK}


def handle_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    user_ids = [u for u in _state(view, views.RECIPIENTS_BLOCK, views.RECIPIENTS_INPUT).get("selected_users") or []]
    message = str(_state(view, views.MESSAGE_BLOCK, views.MESSAGE_INPUT).get("value") or "")
    tags = [
        str(o.get("value")) for o in _state(view, views.VALUES_BLOCK, views.VALUES_INPUT).get("selected_options") or []
    ]
    private = bool(_state(view, views.PRIVATE_BLOCK, views.PRIVATE_INPUT).get("selected_options"))
    now = empathy.clock.now()
    with empathy.session_factory.begin() as session:
        workspace, giver = request_identity(session, context)
        if giver is None or not giver.active:
            ack(response_action="errors", errors={views.RECIPIENTS_BLOCK: NOT_IN_DIRECTORY[:150]})
            return
        recipients, unknown = _people(session, workspace, [str(u) for u in user_ids])
        if unknown:
            ack(
                response_action="errors",
                errors={
                    views.RECIPIENTS_BLOCK: "Someone here isn't in the company directory yet, so I can't thank them."
                },
            )
            return
        try:
            given = service.give(
                session,
                workspace,
                giver,
                recipients,
                message,
                tags,
                private=private,
                submit_key=f"view:{view.get('id') or body.get('trigger_id')}",
                settings=empathy.settings,
                now=now,
                item=_metadata_item(view),
            )
        except service.KudosRefused as refused:
            ack(
                response_action="errors",
                errors={FIELD_BLOCKS.get(refused.field, views.RECIPIENTS_BLOCK): error_text(refused)},
            )
            return
        channel = service.announce(session, workspace, given.kudos, giver, given.recipients, empathy.settings, now)
        text = views.sent_text(given.recipients, posted_in=channel, left=given.left_today)
    ack(response_action="update", view=views.done_view(text))


# -- reactions -------------------------------------------------------------------------------------


def _reaction_parties(
    session: Session, context: dict[str, Any], event: dict[str, Any], empathy: AppContext
) -> tuple[Workspace, Person, Person | None, str, str] | None:
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return None
    reaction = str(event.get("reaction") or "").split("::")[0]  # ignore skin tones
    workspace, _ = request_identity(session, context)
    if reaction != service.rules(session, workspace, empathy.settings).reaction:
        return None
    giver = find_person(session, workspace, str(event.get("user") or ""))
    author = find_person(session, workspace, str(event.get("item_user") or ""))
    if giver is None:
        return None
    return workspace, giver, author, str(item["channel"]), str(item["ts"])


def handle_reaction_added(event: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    now = empathy.clock.now()
    with empathy.session_factory.begin() as session:
        parties = _reaction_parties(session, context, event, empathy)
        if parties is None or parties[2] is None:
            return
        workspace, giver, author, channel, ts = parties
        assert author is not None
        service.react(session, workspace, giver, author, channel=channel, ts=ts, settings=empathy.settings, now=now)


def handle_reaction_removed(event: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    now = empathy.clock.now()
    with empathy.session_factory.begin() as session:
        parties = _reaction_parties(session, context, event, empathy)
        if parties is None:
            return
        workspace, giver, _, channel, ts = parties
        service.unreact(session, workspace, giver, channel=channel, ts=ts, now=now)


# -- company values (HR) ------------------------------------------------------------------------------


def handle_values_button(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    empathy = empathy_context(context)
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        allowed = person is not None and is_hr(session, person, empathy.settings)
        lines = as_lines(service.values_of(session, workspace.id))
    if not allowed:
        try:
            client.chat_postMessage(
                channel=body["user"]["id"],
                text="Only HR can change the company values. `/empathy help` shows who HR is.",
            )
        except SlackApiError as error:
            logger.warning("could not tell a non-HR person why values did not open: %s", error.response.get("error"))
        return
    client.views_open(trigger_id=body["trigger_id"], view=views.values_modal(lines))


def handle_values_submission(ack: Ack, view: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    text = str(_state(view, views.VALUE_LINES_BLOCK, views.VALUE_LINES_INPUT).get("value") or "")
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        if person is None or not is_hr(session, person, empathy.settings):
            ack(response_action="errors", errors={views.VALUE_LINES_BLOCK: "Only HR can change the company values."})
            return
        try:
            specs = parse_lines(text)
        except ValuesError as error:
            ack(response_action="errors", errors={views.VALUE_LINES_BLOCK: "; ".join(error.problems)[:1900]})
            return
        replace_values(session, workspace.id, specs, actor_id=person.id, via="slack", now=empathy.clock.now())
    ack()


# -- App Home ---------------------------------------------------------------------------------------


def home_blocks(
    session: Session, workspace: Workspace, person: Person | None, role: HomeRole, empathy: AppContext
) -> list[dict[str, Any]]:
    """Everyone's kudos numbers and a button; HR also sees and edits the company values."""
    if person is None or not person.active:
        return []
    found = service.stats(session, person, empathy.clock.now())
    values = service.values_of(session, workspace.id)
    return views.home_section(found, values, is_hr=is_hr(session, person, empathy.settings))


def register(app: App) -> None:
    app.command("/kudos")(handle_kudos_command)
    app.view(views.KUDOS_VIEW)(handle_submission)
    app.view(views.VALUES_VIEW)(handle_values_submission)
    app.action(views.OPEN_ACTION)(handle_open_button)
    app.action(views.VALUES_ACTION)(handle_values_button)
    app.shortcut(views.MESSAGE_SHORTCUT)(handle_message_shortcut)
    app.event("reaction_added")(once_per_event(handle_reaction_added))
    app.event("reaction_removed")(once_per_event(handle_reaction_removed))
