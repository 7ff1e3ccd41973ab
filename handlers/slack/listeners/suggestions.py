"""The anonymous suggestion box (issue #5): listeners and App Home section. Every listener acks first
(or answers in its ack); the service in `bot.suggestions.service` does the work."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.models import Person, Workspace
from bot.core.people import HomeRole, is_hr
from bot.core.workspace_config import parse_channel
from bot.suggestions import service
from bot.suggestions.messages import receipt_message
from bot.suggestions.models import Suggestion, SuggestionMessage
from handlers.slack.context import AppContext, empathy_context
from handlers.slack.listeners.common import (
    context_block,
    ephemeral,
    error_text,
    escape,
    mrkdwn_section,
    request_identity,
)
from handlers.slack.render import suggestions as views
from handlers.slack.render.message import render

logger = logging.getLogger(__name__)

HELP = (
    "*`/suggest`* opens the suggestion box; `/suggest your idea` goes straight to a confirmation. "
    "Your name is not stored with it unless you choose to share it.\n"
    "• `/suggest mine`: your suggestions and their status\n"
    "• `/suggest delete S-7KQ2` (its reference): take one back\n"
    "Owners can also use `/suggest queue` (the open ones); HR can post a “you said, we did” summary "
    "with `/suggest digest #channel`."
)
NOT_IN_DIRECTORY = (
    "I don't have you in the company directory yet, so the suggestion box can't take your idea: I need to "
    "know where to send replies. Please ask HR to add you, then try again. `/empathy help` explains what I do."
)
REFERENCE = re.compile(r"^S-[A-Z0-9]{4}$", re.IGNORECASE)


# -- /suggest ------------------------------------------------------------------------------------


def handle_suggest_command(
    ack: Ack, command: dict[str, Any], context: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    empathy = empathy_context(context)
    text = (command.get("text") or "").strip()
    word, _, rest = text.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "help" and not rest:
        ack(**ephemeral(HELP))
        return
    if word == "mine" and not rest:
        ack(**ephemeral(_mine(empathy, context)))
        return
    if word == "queue" and not rest:
        ack(**ephemeral(_queue(empathy, context)))
        return
    if word == "delete" and REFERENCE.match(rest):
        ack(**ephemeral(_delete(empathy, context, client, rest)))
        return
    if word == "digest" and (not rest or rest.startswith("<#") or " " not in rest):
        ack(**ephemeral(_digest(empathy, context, rest)))
        return
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        if person is None or not person.active:
            ack(**ephemeral(NOT_IN_DIRECTORY))
            return
        categories = service.categories(session, workspace, empathy.settings)
    if not text:
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=views.suggest_modal(categories, service.TEXT_LIMIT))
        return
    try:
        body = service.clean_text(text)
    except service.SuggestionError as error:
        ack(**ephemeral(error_text(error)))
        return
    ack()
    client.views_open(trigger_id=command["trigger_id"], view=views.confirm_modal(body, categories))


def _mine(empathy: AppContext, context: dict[str, Any]) -> str:
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        if person is None:
            return NOT_IN_DIRECTORY
        mine = service.authored_by(session, workspace, person, empathy.box)
        if not mine:
            return "You have no suggestions in the box right now. `/suggest` shares one, anonymously."
        lines = [
            f"• *{s.reference}* · {escape(views.category_label(s.category))} · {views.day(s.submitted_on)} · "
            f"{views.STATUS_LABELS[s.status]}"
            for s in mine[-20:]
        ]
    return (
        "*Your suggestions* (only you can see this)\n"
        + "\n".join(lines)
        + "\n`/suggest delete` and its reference takes one back."
    )


def _queue(empathy: AppContext, context: dict[str, Any]) -> str:
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        try:
            waiting = service.open_queue(session, workspace, person, empathy.settings)
        except service.SuggestionError as error:
            return error_text(error)
        if not waiting:
            return "No open suggestions: the queue is empty. 🎉"
        return "*Open suggestions*, oldest first\n" + "\n".join(_queue_line(s, excerpt=True) for s in waiting)


def _queue_line(suggestion: Suggestion, *, excerpt: bool = False) -> str:
    who = f"from {escape(suggestion.shared_name)}" if suggestion.shared_name else "anonymous"
    line = (
        f"• *{suggestion.reference}* · {escape(views.category_label(suggestion.category))} · "
        f"{views.day(suggestion.submitted_on)} · {views.STATUS_LABELS[suggestion.status]} · {who}"
    )
    if excerpt:
        text = suggestion.text if len(suggestion.text) <= 120 else suggestion.text[:119] + "…"
        line += f"\n    _{escape(' '.join(text.split()))}_"
    return line


def _delete(empathy: AppContext, context: dict[str, Any], client: WebClient, reference: str) -> str:
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        if person is None:
            return NOT_IN_DIRECTORY
        try:
            deleted = service.delete_by_author(session, workspace, person, reference, empathy.box)
        except service.SuggestionError as error:
            return error_text(error)
    _withdraw_posted(client, deleted)
    return f"Done: suggestion *{deleted.reference}* and its replies are deleted. The owners can no longer answer it."


def _withdraw_posted(client: WebClient, deleted: service.Deleted) -> None:
    """Replace what the owners already have in Slack with a note; the text goes with the suggestion."""
    note = f"Suggestion {deleted.reference} was withdrawn by its author."
    for channel, ts in deleted.posted:
        try:
            client.chat_update(channel=channel, ts=ts, text=note, blocks=[context_block(note)])
        except SlackApiError as error:
            logger.warning("could not withdraw a suggestion message: %s", error.response.get("error"))


def _digest(empathy: AppContext, context: dict[str, Any], raw_channel: str) -> str:
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        if person is None or not is_hr(session, person, empathy.settings):
            return "Only HR admins can post a “you said, we did” summary."
        try:
            channel = parse_channel(raw_channel)
            count = service.you_said_we_did(
                session, workspace, person, channel, settings=empathy.settings, now=empathy.clock.now()
            )
        except service.UserFacingError as error:
            return error_text(error)
    if count == 0:
        return (
            "There's nothing new to report: no suggestion has been marked *Done* since the last summary. "
            "Nothing was posted."
        )
    return (
        f"On its way: “you said, we did” with {count} {'suggestion' if count == 1 else 'suggestions'} to <#{channel}>."
    )


# -- submitting ----------------------------------------------------------------------------------


def _value(values: dict[str, Any], block: str, action: str) -> Any:
    element = values.get(block, {}).get(action, {})
    if element.get("type") == "checkboxes":
        return [o["value"] for o in element.get("selected_options") or []]
    if element.get("type") == "static_select":
        return (element.get("selected_option") or {}).get("value")
    return element.get("value")


def handle_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    empathy = empathy_context(context)
    values = view.get("state", {}).get("values", {})
    confirming = view.get("callback_id") == views.CONFIRM_VIEW
    if confirming:
        text = views.unescape(str(_metadata(view).get("text") or ""))
        text_block = views.CATEGORY_BLOCK  # the text is shown, not editable: errors go on the next field
    else:
        text = _value(values, views.TEXT_BLOCK, views.TEXT_INPUT) or ""
        text_block = views.TEXT_BLOCK
    category = _value(values, views.CATEGORY_BLOCK, views.CATEGORY_INPUT) or ""
    share = "share" in (_value(values, views.SHARE_BLOCK, views.SHARE_INPUT) or [])
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            if person is None or not person.active:
                raise service.SuggestionError(NOT_IN_DIRECTORY)
            submitted = service.submit(
                session,
                workspace,
                person,
                text=text,
                category=category,
                share_name=share,
                form_id=str(view.get("id") or body.get("trigger_id") or ""),
                box=empathy.box,
                settings=empathy.settings,
                now=empathy.clock.now(),
            )
            reference, created = submitted.suggestion.reference, submitted.created
    except service.SuggestionError as error:
        block = views.CATEGORY_BLOCK if isinstance(error, service.UnknownCategory) else text_block
        ack(response_action="errors", errors={block: error_text(error)})
        return
    delay = empathy.settings.suggestions_relay_delay_minutes
    ack(response_action="update", view=views.receipt_view(reference, delay))
    if created:
        # A reply to the person who just submitted, inside their request: direct, and never stored, so the
        # outbox holds nothing that ties them to this reference.
        try:
            client.chat_postMessage(channel=body["user"]["id"], **render(receipt_message(reference, delay)))
        except SlackApiError as error:
            logger.warning("could not DM a suggestion receipt: %s", error.response.get("error"))


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def handle_open_button(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    ack()
    empathy = empathy_context(context)
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        categories = service.categories(session, workspace, empathy.settings)
    if person is None:
        _tell_dm(client, body, NOT_IN_DIRECTORY)
        return
    client.views_open(trigger_id=body["trigger_id"], view=views.suggest_modal(categories, service.TEXT_LIMIT))


def _tell_dm(client: WebClient, body: dict[str, Any], text: str) -> None:
    try:
        client.chat_postMessage(channel=body["user"]["id"], text=text)
    except SlackApiError as error:
        logger.warning("could not tell someone why the suggestion box did not open: %s", error.response.get("error"))


# -- owners --------------------------------------------------------------------------------------


def _container(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    return container.get("channel_id"), container.get("message_ts")


def handle_status(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    reference, _, status = (action.get("value") or "").partition("|")
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            suggestion = service.set_status(
                session,
                workspace,
                person,
                reference,
                status,
                box=empathy.box,
                settings=empathy.settings,
                now=empathy.clock.now(),
            )
            updated = render(service.owner_message(suggestion))
    except service.SuggestionError as error:
        respond(**ephemeral(error_text(error)), replace_original=False)
        return
    respond(**updated, replace_original=True)


def _check_owner(empathy: AppContext, context: dict[str, Any], reference: str) -> str | None:
    """Why this person may not act on `reference` (None: they may)."""
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        suggestion = service.find(session, workspace, reference)
        if suggestion is None:
            return f"Suggestion {escape(reference[:20])} is no longer there: its author deleted it."
        if not service.is_owner(session, workspace, person, empathy.settings, suggestion.category):
            return (
                "Only the suggestion owners (HR, and the people HR named with `/empathy config suggestion-owners`) "
                f"can do that for {suggestion.reference}. Nothing was changed."
            )
        if suggestion.status in service.CLOSED:
            return f"{suggestion.reference} is already closed ({views.STATUS_LABELS[suggestion.status]})."
    return None


def handle_close_button(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    reference, _, status = (action.get("value") or "").partition("|")
    refusal = _check_owner(empathy, context, reference)
    if refusal:
        respond(**ephemeral(refusal), replace_original=False)
        return
    wont = status == "wont_do"
    modal = views.text_modal(
        views.CLOSE_VIEW,
        "Won't do" if wont else "Done",
        "Why not? (its author will read this)" if wont else "What changed? (optional; its author will read this)",
        reference,
        service.NOTE_LIMIT,
        optional=not wont,
        intro=f"Closing *{reference}* as *{views.STATUS_LABELS.get(status, status)}*.",
        status=status,
    )
    modal["private_metadata"] = json.dumps({"reference": reference, "status": status, "at": _container(body)})
    client.views_open(trigger_id=body["trigger_id"], view=modal)


def handle_close_submission(ack: Ack, view: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    meta = _metadata(view)
    note = _value(view.get("state", {}).get("values", {}), views.NOTE_BLOCK, views.NOTE_INPUT)
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            suggestion = service.set_status(
                session,
                workspace,
                person,
                str(meta.get("reference") or ""),
                str(meta.get("status") or ""),
                note=note,
                box=empathy.box,
                settings=empathy.settings,
                now=empathy.clock.now(),
            )
            updated = render(service.owner_message(suggestion))
    except service.SuggestionError as error:
        ack(response_action="errors", errors={views.NOTE_BLOCK: error_text(error)})
        return
    ack()
    _update_owner_message(client, meta.get("at"), updated)


def _update_owner_message(client: WebClient, at: Any, payload: dict[str, Any]) -> None:
    channel, ts = at if isinstance(at, list) and len(at) == 2 else (None, None)
    if not channel or not ts:
        return
    try:
        client.chat_update(channel=channel, ts=ts, **payload)
    except SlackApiError as error:  # the status is saved either way; the message shows it on the next change
        logger.warning("could not update a suggestion message: %s", error.response.get("error"))


def handle_owner_reply_button(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    reference = action.get("value") or ""
    refusal = _check_owner(empathy, context, reference)
    if refusal:
        respond(**ephemeral(refusal), replace_original=False)
        return
    modal = views.text_modal(
        views.OWNER_REPLY_VIEW,
        "Reply",
        "Your reply (its author sees your name)",
        reference,
        service.TEXT_LIMIT,
        intro=f"Replying to *Anonymous {reference}*. I pass it on by DM; they can answer, still anonymously.",
    )
    modal["private_metadata"] = json.dumps({"reference": reference, "at": _container(body)})
    client.views_open(trigger_id=body["trigger_id"], view=modal)


def handle_owner_reply_submission(ack: Ack, view: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    meta = _metadata(view)
    text = _value(view.get("state", {}).get("values", {}), views.NOTE_BLOCK, views.NOTE_INPUT) or ""
    now = empathy.clock.now()
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            posted = service.owner_reply(
                session,
                workspace,
                person,
                str(meta.get("reference") or ""),
                text,
                box=empathy.box,
                settings=empathy.settings,
                now=now,
                form_id=str(view.get("id") or "") or None,
            )
            if posted.created:  # a replayed form is the same reply: already in the thread
                _record_in_thread(session, workspace, person, meta, posted.message, now)
    except service.SuggestionError as error:
        ack(response_action="errors", errors={views.NOTE_BLOCK: error_text(error)})
        return
    ack()


def _record_in_thread(
    session: Session,
    workspace: Workspace,
    owner: Person | None,
    meta: dict[str, Any],
    message: SuggestionMessage,
    now: datetime,
) -> None:
    """Show the other owners what was answered, in the suggestion's thread: where the owners' message
    is (Slack's channel and ts, kept in the modal's metadata), unless that was a DM."""
    at = meta.get("at")
    channel, ts = at if isinstance(at, list) and len(at) == 2 else (None, None)
    if not channel or not channel.startswith(("C", "G")):
        return
    reference = str(meta.get("reference") or "")
    service.record_in_thread(session, workspace, owner, message, reference, channel=channel, thread=ts, now=now)


# -- the author ----------------------------------------------------------------------------------


def handle_author_reply_button(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    reference = action.get("value") or ""
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        suggestion = service.find(session, workspace, reference)
        mine = (
            suggestion is not None
            and person is not None
            and suggestion in service.authored_by(session, workspace, person, empathy.box)
        )
        closed = suggestion is not None and suggestion.status in service.CLOSED
    if not mine:
        respond(
            **ephemeral(f"Suggestion {escape(reference[:20])} is no longer there, so there's nothing to answer."),
            replace_original=False,
        )
        return
    if closed:
        respond(
            **ephemeral(f"{escape(reference)} is closed, so replies are off. `/suggest` starts a new one."),
            replace_original=False,
        )
        return
    client.views_open(
        trigger_id=body["trigger_id"],
        view=views.text_modal(
            views.AUTHOR_REPLY_VIEW,
            "Answer anonymously",
            "Your answer",
            reference,
            service.TEXT_LIMIT,
            intro=f"The owners will see this as *Anonymous {reference}*, with the date only.",
        ),
    )


def handle_author_reply_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    empathy = empathy_context(context)
    meta = _metadata(view)
    reference = str(meta.get("reference") or "")
    text = _value(view.get("state", {}).get("values", {}), views.NOTE_BLOCK, views.NOTE_INPUT) or ""
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            if person is None:
                raise service.SuggestionError(NOT_IN_DIRECTORY)
            created = service.author_reply(
                session,
                workspace,
                person,
                reference,
                text,
                box=empathy.box,
                settings=empathy.settings,
                now=empathy.clock.now(),
                form_id=str(view.get("id") or "") or None,
            ).created
    except service.SuggestionError as error:
        ack(response_action="errors", errors={views.NOTE_BLOCK: error_text(error)})
        return
    ack()
    if not created:  # the same form again (a replay, a retry): confirmed the first time
        return
    try:
        client.chat_postMessage(
            channel=body["user"]["id"],
            text=f"Your answer on {reference} is on its way to the owners, anonymously.",
        )
    except SlackApiError as error:
        logger.warning("could not confirm an anonymous answer: %s", error.response.get("error"))


def handle_delete_button(
    ack: Ack, action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    text = _delete(empathy, context, client, action.get("value") or "")
    respond(text=text, replace_original=True)


# -- App Home ------------------------------------------------------------------------------------


def home_blocks(
    session: Session, workspace: Workspace, person: Person | None, role: HomeRole, empathy: AppContext
) -> list[dict[str, Any]]:
    """This feature's App Home section for `person`: the box for everyone, the queue for owners."""
    if person is None or not person.active:
        return []
    intro = mrkdwn_section(
        "*Suggestion box*\nShare an idea or a worry anonymously: your name is not stored with it, and the "
        "owners can reply without ever learning who you are."
    )
    intro["accessory"] = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Share a suggestion", "emoji": True},
        "action_id": views.OPEN_ACTION,
        "value": "home",
    }
    blocks: list[dict[str, Any]] = [{"type": "divider"}, intro]
    mine = service.authored_by(session, workspace, person, empathy.box)
    if mine:
        listed = ", ".join(f"{s.reference} ({views.STATUS_LABELS[s.status]})" for s in mine[-5:])
        blocks.append(context_block(f"Yours, visible only to you: {listed}. `/suggest mine` lists them all."))
    if service.is_owner(session, workspace, person, empathy.settings):
        waiting = service.open_queue(session, workspace, person, empathy.settings, limit=5)
        tally = service.counts(session, workspace)
        summary = ", ".join(
            f"{tally.get(s, 0)} {views.STATUS_LABELS[s]}" for s in ("new", "acknowledged", "in_progress")
        )
        lines = "\n".join(_queue_line(s) for s in waiting) or "Nothing is waiting."
        blocks.append(mrkdwn_section(f"*Suggestions to handle* ({summary})\n{lines}"))
        hint = "`/suggest queue` lists every open one."
        if role is HomeRole.HR:
            hint += " `/suggest digest #channel` posts a “you said, we did” summary of what was done."
        blocks.append(context_block(hint))
    return blocks


def register(app: App) -> None:
    app.command("/suggest")(handle_suggest_command)
    app.view(views.SUGGEST_VIEW)(handle_submission)
    app.view(views.CONFIRM_VIEW)(handle_submission)
    app.view(views.CLOSE_VIEW)(handle_close_submission)
    app.view(views.OWNER_REPLY_VIEW)(handle_owner_reply_submission)
    app.view(views.AUTHOR_REPLY_VIEW)(handle_author_reply_submission)
    app.action(views.OPEN_ACTION)(handle_open_button)
    app.action(views.STATUS_ACTION)(handle_status)
    app.action(views.CLOSE_ACTION)(handle_close_button)
    app.action(views.OWNER_REPLY_ACTION)(handle_owner_reply_button)
    app.action(views.AUTHOR_REPLY_ACTION)(handle_author_reply_button)
    app.action(views.DELETE_ACTION)(handle_delete_button)
