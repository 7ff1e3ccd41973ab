"""The anonymous suggestion box on Teams (the Teams side of `handlers/slack/listeners/suggestions.py`).

- `suggest` in the personal chat shows a card whose button opens the form as a dialog (an
  `Action.Submit` with `msteams: {type: task/fetch}` → invoke `task/fetch` → the form card); its Send
  arrives as `task/submit`. `suggest <text>` shows the text and opens the same form with it filled in,
  as Slack confirms first. Validation errors come back as the same form with the error above it.
- The receipt (with *Delete my suggestion*) is sent into the chat the request came from, never queued:
  the outbox then holds nothing that ties the person to the reference, as on Slack.
- Owners' cards come from the outbox (the service decides: the owners' channel, or DMs). Their buttons
  are `Action.Execute` with Slack's action ids and values; the answer is the updated card, in the
  invoke's response. Teams cannot open a dialog from `Action.Execute`, so *Done*, *Won't do*, *Reply*
  and *Answer anonymously* answer with the form inside the card (owners) or as a new card in the
  author's chat (whose card holds an owner's words we no longer have).
- HR chooses the owners' channel by typing `suggest channel` to the bot in that channel, and posts
  "you said, we did" there with `suggest digest`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from microsoft_teams.api import (
    ActivityBase,
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
    AdaptiveCardInvokeActivity,
    Attachment,
    CardTaskModuleTaskInfo,
    MessageActivity,
    MessageActivityInput,
    TaskFetchInvokeActivity,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleResponse,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.utils import extract_tenant_id
from microsoft_teams.cards import AdaptiveCard
from sqlalchemy.orm import Session

from bot.core.accounts import find_by_account
from bot.core.message import Message
from bot.core.models import Person, Workspace
from bot.delivery.inbound import Command
from bot.suggestions import messages, service
from handlers.teams.accounts import teams_workspace
from handlers.teams.context import TeamsContext
from handlers.teams.render.markdown import escape
from handlers.teams.render.message import CARD_CONTENT_TYPE, CARD_SCHEMA, CARD_VERSION, error_text, render

logger = logging.getLogger(__name__)

# Dialog and in-card form ids (Slack's button action ids are `messages.*_ACTION`, shared).
FORM_DIALOG = "suggest_form"  # task/fetch: `dialog_id`
FORM_SUBMIT = "suggest_submit"  # task/submit: `action`
CLOSE_SEND = "suggest_close_send"
OWNER_REPLY_SEND = "suggest_owner_reply_send"
AUTHOR_REPLY_SEND = "suggest_author_reply_send"
OWNER_CANCEL = "suggest_owner_cancel"
TEXT_INPUT, CATEGORY_INPUT, SHARE_INPUT, NOTE_INPUT = "text", "category", "share", "note"

CHANNEL_CONVERSATION = "channel"
REFERENCE = re.compile(r"^S-[A-Z0-9]{4}$", re.IGNORECASE)

HELP = (
    "**suggest** opens the suggestion box; **suggest** followed by your idea fills the form in for you. "
    "Your name is not stored with it unless you choose to share it.\n\n"
    "- **suggest mine**: your suggestions and their status\n"
    "- **suggest delete S-7KQ2** (its reference): take one back\n\n"
    "Owners can also use **suggest queue** (the open ones). HR chooses the owners' channel by typing "
    "**suggest channel** to me in that channel, and posts a “you said, we did” summary there with "
    "**suggest digest**."
)
NOT_IN_DIRECTORY = (
    "I don't have you in the company directory yet, so the suggestion box can't take your idea: I need to "
    "know where to send replies. Please ask HR to add you, then try again. Type **help** to see what I do."
)
PRIVATE = (
    "**What stays private**: your name is not stored with your suggestion (unless you switch on sharing "
    "below), and the owners see only the date it was sent. They can reply, and you can answer, without "
    "them ever learning who you are."
)
CHANNEL_ONLY = (
    "Type **suggest channel** to me in the team channel where new suggestions should arrive (a standard "
    "channel in a team only the owners are in), after adding me to that team."
)

T = TypeVar("T")


async def _db(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


@dataclass(frozen=True)
class Asker:
    workspace: Workspace
    person: Person | None


def _asker(session: Session, activity: ActivityBase, teams: TeamsContext) -> Asker:
    """Who sent `activity`: our tenant's workspace and the person with that Entra object id (or None).
    Someone from another tenant is nobody here: no workspace is made for them, and they own nothing."""
    tenant = (extract_tenant_id(activity) or "").lower()
    workspace = teams_workspace(session, teams.settings.teams_tenant_id or tenant)
    aad = activity.from_.aad_object_id
    if not aad or tenant != (teams.settings.teams_tenant_id or "").lower():
        return Asker(workspace, None)
    return Asker(workspace, find_by_account(session, workspace, aad.lower()))


# -- cards -------------------------------------------------------------------------------------------


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "full"},
    }
    if actions:
        card["actions"] = actions
    return card


def _text(words: str, **options: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": words, "wrap": True, **options}


def _error(words: str) -> dict[str, Any]:
    return _text(words, color="Attention", weight="Bolder")


def _activity(card: dict[str, Any], summary: str) -> MessageActivityInput:
    return MessageActivityInput.model_validate(
        {"type": "message", "summary": summary, "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
    )


def open_card(prefill: str | None = None) -> dict[str, Any]:
    """The chat card whose button opens the form (a dialog can only be opened by a card button)."""
    data: dict[str, Any] = {"msteams": {"type": "task/fetch"}, "dialog_id": FORM_DIALOG}
    if prefill is None:
        body = [_text("**Suggestion box**"), _text(PRIVATE, size="Small", isSubtle=True)]
        title = "Share a suggestion"
    else:
        data["text"] = prefill
        body = [
            _text("**This is what will be sent**, anonymously:"),
            {"type": "Container", "style": "emphasis", "items": [_text(escape(prefill))]},
            _text("Pick a category and send it; you can still change the words.", size="Small", isSubtle=True),
        ]
        title = "Choose a category and send"
    return _card(body, [{"type": "Action.Submit", "title": title, "data": data}])


def form_card(
    categories: list[str],
    *,
    text: str = "",
    category: str | None = None,
    share: bool = False,
    error: str | None = None,
    form_id: str | None = None,
) -> dict[str, Any]:
    """The suggestion form. `form_id` is unique per form (kept when the form comes back with an error),
    so a double submit is one suggestion, as Slack's view id makes it."""
    body: list[dict[str, Any]] = []
    if error:
        body.append(_error(error))
    body += [
        {
            "type": "Input.Text",
            "id": TEXT_INPUT,
            "label": f"Your suggestion (up to {service.TEXT_LIMIT:,} characters)",
            "isMultiline": True,
            "isRequired": True,
            "errorMessage": "Please write a few words.",
            "maxLength": service.TEXT_LIMIT,
            "value": text,
        },
        {
            "type": "Input.ChoiceSet",
            "id": CATEGORY_INPUT,
            "label": "Category",
            "style": "compact",
            "isRequired": True,
            "errorMessage": "Please pick a category.",
            "choices": [{"title": messages.category_label(c), "value": c} for c in categories],
            **({"value": category} if category in categories else {}),
        },
        {
            "type": "Input.Toggle",
            "id": SHARE_INPUT,
            "title": "Share my name with the owners",
            "value": "true" if share else "false",
            "valueOn": "true",
            "valueOff": "false",
        },
        _text(PRIVATE, size="Small", isSubtle=True),
    ]
    data = {"action": FORM_SUBMIT, "form": form_id or uuid.uuid4().hex}
    return _card(body, [{"type": "Action.Submit", "title": "Send anonymously", "style": "positive", "data": data}])


def _dialog(card: dict[str, Any], title: str = "Share a suggestion") -> TaskModuleResponse:
    attachment = Attachment(content_type=CARD_CONTENT_TYPE, content=card)
    return TaskModuleResponse(
        task=TaskModuleContinueResponse(
            value=CardTaskModuleTaskInfo(title=title, width="medium", height="large", card=attachment)
        )
    )


def _done(words: str) -> TaskModuleResponse:
    return TaskModuleResponse(task=TaskModuleMessageResponse(value=words))


def _note_form(
    action: str, label: str, reference: str, *, limit: int, required: bool, error: str | None = None, **extra: str
) -> list[dict[str, Any]]:
    """A form inside a card: the text and an `Action.Execute` that sends it with the card's data."""
    items: list[dict[str, Any]] = [_error(error)] if error else []
    items.append(
        {
            "type": "Input.Text",
            "id": NOTE_INPUT,
            "label": label,
            "isMultiline": True,
            "maxLength": limit,
            "isRequired": required,
            **({"errorMessage": "Please write a few words."} if required else {}),
        }
    )
    data = {"action": action, "value": reference, "form": uuid.uuid4().hex, **extra}
    buttons = [{"type": "Action.Execute", "title": "Send", "verb": action, "data": data, "style": "positive"}]
    if action != AUTHOR_REPLY_SEND:
        cancel = {"action": OWNER_CANCEL, "value": reference}
        buttons.append(
            {
                "type": "Action.Execute",
                "title": "Cancel",
                "verb": OWNER_CANCEL,
                "data": cancel,
                "associatedInputs": "none",
            }
        )
    items.append({"type": "ActionSet", "actions": buttons})
    return [{"type": "Container", "separator": True, "items": items}]


def _content(message: Message) -> dict[str, Any]:
    content: dict[str, Any] = render(message)["attachments"][0]["content"]
    return content


def _replace(card: dict[str, Any]) -> AdaptiveCardActionCardResponse:
    return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(card))


def _say(words: str) -> AdaptiveCardActionMessageResponse:
    """A short answer Teams shows to the person who clicked; the card stays as it is."""
    return AdaptiveCardActionMessageResponse(value=words)


def _owner_card(suggestion: Any, form: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    card = _content(service.owner_message(suggestion))
    if form:
        card["body"] = [*card["body"], *form]
    return card


# -- commands in the personal chat ------------------------------------------------------------------


async def suggest(ctx: ActivityContext[MessageActivity], teams: TeamsContext, command: Command) -> None:
    word, rest = command.verb, command.rest
    if word == "help" and not rest:
        await ctx.send(HELP)
    elif word == "mine" and not rest:
        await ctx.send(await _db(lambda: _mine(teams, ctx.activity)))
    elif word == "queue" and not rest:
        await ctx.send(await _db(lambda: _queue(teams, ctx.activity)))
    elif word == "delete" and REFERENCE.match(rest):
        words, posted = await _db(lambda: _delete(teams, ctx.activity, rest))
        await _withdraw(ctx, posted)
        await ctx.send(words)
    elif word in ("channel", "digest") and not rest:
        await ctx.send(CHANNEL_ONLY)
    else:
        await _offer_form(ctx, teams, command.words.strip())


async def _offer_form(ctx: ActivityContext[MessageActivity], teams: TeamsContext, typed: str) -> None:
    def check() -> str | None:
        with teams.session_factory() as session:
            person = _asker(session, ctx.activity, teams).person
        return NOT_IN_DIRECTORY if person is None or not person.active else None

    refusal = await _db(check)
    if refusal:
        await ctx.send(refusal)
        return
    if not typed:
        await ctx.send(_activity(open_card(), "The suggestion box"))
        return
    try:
        body = service.clean_text(typed)
    except service.SuggestionError as error:
        await ctx.send(error_text(error))
        return
    await ctx.send(_activity(open_card(body), "Your suggestion, ready to send"))


def _line(suggestion: Any) -> str:
    return (
        f"- **{suggestion.reference}** · {escape(messages.category_label(suggestion.category))} · "
        f"{messages.day(suggestion.submitted_on)} · {messages.STATUS_LABELS[suggestion.status]}"
    )


def _mine(teams: TeamsContext, activity: ActivityBase) -> str:
    with teams.session_factory() as session:
        asker = _asker(session, activity, teams)
        if asker.person is None:
            return NOT_IN_DIRECTORY
        mine = service.authored_by(session, asker.workspace, asker.person, teams.box)
        if not mine:
            return "You have no suggestions in the box right now. **suggest** shares one, anonymously."
        lines = "\n".join(_line(s) for s in mine[-20:])
    return f"**Your suggestions** (only you can see this)\n\n{lines}\n\n**suggest delete** and its reference takes one back."


def _queue(teams: TeamsContext, activity: ActivityBase) -> str:
    with teams.session_factory() as session:
        asker = _asker(session, activity, teams)
        try:
            waiting = service.open_queue(session, asker.workspace, asker.person, teams.settings)
        except service.SuggestionError as error:
            return error_text(error)
        if not waiting:
            return "No open suggestions: the queue is empty. 🎉"
        lines = []
        for s in waiting:
            who = f"from {escape(s.shared_name)}" if s.shared_name else "anonymous"
            lines.append(f"{_line(s)} · {who}")
        return "**Open suggestions**, oldest first\n\n" + "\n".join(lines)


def _delete(teams: TeamsContext, activity: ActivityBase, reference: str) -> tuple[str, list[tuple[str, str]] | None]:
    """What to tell the author, and the owners' copies already sent (None: nothing was deleted)."""
    with teams.session_factory.begin() as session:
        asker = _asker(session, activity, teams)
        if asker.person is None:
            return NOT_IN_DIRECTORY, None
        try:
            deleted = service.delete_by_author(session, asker.workspace, asker.person, reference, teams.box)
        except service.SuggestionError as error:
            return error_text(error), None
    return (
        f"Done: suggestion **{deleted.reference}** and its replies are deleted. The owners can no longer answer it.",
        deleted.posted,
    )


async def _withdraw(ctx: ActivityContext[Any], posted: list[tuple[str, str]] | None) -> None:
    """Replace the owners' copies already in Teams (conversation, activity id) with a note: the text goes
    with the suggestion. The deletion stands if Teams refuses; the note is only a courtesy."""
    for conversation_id, activity_id in posted or []:
        note = "This suggestion was withdrawn by its author."
        try:
            await ctx.api.conversations.update_activity(
                conversation_id, activity_id, _activity(_card([_text(note, isSubtle=True)]), note)
            )
        except Exception as error:
            logger.warning("could not withdraw a suggestion message in Teams: %s", type(error).__name__)


# -- commands in a team channel ----------------------------------------------------------------------


async def suggest_in_channel(ctx: ActivityContext[MessageActivity], teams: TeamsContext, command: Command) -> None:
    word = command.words.strip().lower()
    if ctx.activity.conversation.conversation_type != CHANNEL_CONVERSATION:
        await ctx.send("Please type that in a team channel, or in our personal chat to share a suggestion.")
        return
    if word == "channel":
        await ctx.send(await _db(lambda: _use_channel(teams, ctx.activity)))
    elif word == "digest":
        await ctx.send(await _db(lambda: _digest(teams, ctx.activity)))
    else:
        await ctx.send(
            "Suggestions are shared in our personal chat, so nobody here sees who wrote them: open a chat with "
            "me and type **suggest**. HR can type **suggest channel** here to receive new suggestions in this "
            "channel, or **suggest digest** to post “you said, we did”."
        )


def _channel_of(activity: ActivityBase) -> str:
    """The channel's conversation id, without the `;messageid=` of the thread the command was typed in:
    new suggestions start threads of their own."""
    return activity.conversation.id.split(";", 1)[0]


def _use_channel(teams: TeamsContext, activity: ActivityBase) -> str:
    with teams.session_factory.begin() as session:
        asker = _asker(session, activity, teams)
        try:
            service.use_channel(
                session,
                asker.workspace,
                asker.person,
                _channel_of(activity),
                settings=teams.settings,
                now=teams.clock.now(),
            )
        except service.SuggestionError as error:
            return error_text(error)
    return (
        "Done: new anonymous suggestions (and their authors' answers) will arrive in this channel, with "
        "buttons to acknowledge, reply and close them. Everyone in this team can read them, so keep it to "
        "the suggestion owners."
    )


def _digest(teams: TeamsContext, activity: ActivityBase) -> str:
    with teams.session_factory.begin() as session:
        asker = _asker(session, activity, teams)
        try:
            count = service.you_said_we_did(
                session,
                asker.workspace,
                asker.person,
                _channel_of(activity),
                settings=teams.settings,
                now=teams.clock.now(),
            )
        except service.SuggestionError as error:
            return error_text(error)
    if count == 0:
        return (
            "There's nothing new to report: no suggestion has been marked **Done** since the last summary. "
            "Nothing was posted."
        )
    return f"On its way: “you said, we did” with {count} {'suggestion' if count == 1 else 'suggestions'}, here."


# -- the form (dialog) ----------------------------------------------------------------------------------


async def open_form(ctx: ActivityContext[TaskFetchInvokeActivity], teams: TeamsContext) -> TaskModuleResponse:
    data = _dict(ctx.activity.value.data)

    def load() -> tuple[Person | None, list[str]]:
        with teams.session_factory() as session:
            asker = _asker(session, ctx.activity, teams)
            return asker.person, service.categories(session, asker.workspace, teams.settings)

    person, categories = await _db(load)
    if person is None or not person.active:
        return _done(_plain(NOT_IN_DIRECTORY))
    return _dialog(form_card(categories, text=str(data.get("text") or "")))


async def submit_form(ctx: ActivityContext[TaskSubmitInvokeActivity], teams: TeamsContext) -> TaskModuleResponse:
    data = _dict(ctx.activity.value.data)
    text = str(data.get(TEXT_INPUT) or "")
    category = str(data.get(CATEGORY_INPUT) or "")
    share = str(data.get(SHARE_INPUT) or "").lower() == "true"
    form_id = str(data.get("form") or "")

    def work() -> tuple[str | None, bool, str | None, list[str]]:
        with teams.session_factory.begin() as session:
            asker = _asker(session, ctx.activity, teams)
            categories = service.categories(session, asker.workspace, teams.settings)
            if asker.person is None or not asker.person.active:
                return None, False, NOT_IN_DIRECTORY, categories
            try:
                submitted = service.submit(
                    session,
                    asker.workspace,
                    asker.person,
                    text=text,
                    category=category,
                    share_name=share,
                    form_id=form_id or uuid.uuid4().hex,
                    box=teams.box,
                    settings=teams.settings,
                    now=teams.clock.now(),
                )
            except service.SuggestionError as error:
                session.rollback()
                return None, False, error_text(error), categories
            return submitted.suggestion.reference, submitted.created, None, categories

    reference, created, error, categories = await _db(work)
    if reference is None:
        card = form_card(categories, text=text, category=category, share=share, error=error, form_id=form_id)
        return _dialog(card)
    delay = teams.settings.suggestions_relay_delay_minutes
    if created:
        # Sent in this request's own conversation and never queued: the outbox holds nothing that ties
        # the person to the reference.
        await ctx.send(_activity(_content(messages.receipt_message(reference, delay)), f"Your suggestion {reference}"))
    return _done(f"Thank you! Your suggestion {reference} is in. The receipt is in our chat.")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(markdown: str) -> str:
    return markdown.replace("**", "")


# -- card buttons (Action.Execute) -------------------------------------------------------------------------


def _action_data(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> dict[str, Any]:
    action = ctx.activity.value.action
    return _dict(action.data if action else None)


async def delete_button(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference = str(_action_data(ctx).get("value") or "")
    words, posted = await _db(lambda: _delete(teams, ctx.activity, reference))
    if posted is None:
        return _say(_plain(words))
    await _withdraw(ctx, posted)
    return _replace(_card([_text(words)]))


async def status_button(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference, _, status = str(_action_data(ctx).get("value") or "").partition("|")
    return await _db(lambda: _set_status(teams, ctx.activity, reference, status, None)[0])


def _set_status(
    teams: TeamsContext, activity: ActivityBase, reference: str, status: str, note: str | None
) -> tuple[Any, str | None]:
    """The updated owners' card, or (the refusal as a message, its text)."""
    with teams.session_factory.begin() as session:
        asker = _asker(session, activity, teams)
        try:
            suggestion = service.set_status(
                session,
                asker.workspace,
                asker.person,
                reference,
                status,
                note=note,
                box=teams.box,
                settings=teams.settings,
                now=teams.clock.now(),
            )
        except service.SuggestionError as error:
            session.rollback()
            words = error_text(error)
            return _say(_plain(words)), words
        return _replace(_owner_card(suggestion)), None


def _owner_refusal(teams: TeamsContext, activity: ActivityBase, reference: str) -> tuple[str | None, Any]:
    """Why this person may not act on `reference` (None: they may), and the suggestion."""
    with teams.session_factory() as session:
        asker = _asker(session, activity, teams)
        suggestion = service.find(session, asker.workspace, reference)
        if suggestion is None:
            return f"Suggestion {reference[:20]} is no longer there: its author deleted it.", None
        if not service.is_owner(session, asker.workspace, asker.person, teams.settings, suggestion.category):
            return (
                "Only the suggestion owners (HR, and the people HR named) can do that for "
                f"{suggestion.reference}. Nothing was changed.",
                None,
            )
        if suggestion.status in service.CLOSED:
            return f"{suggestion.reference} is already closed ({messages.STATUS_LABELS[suggestion.status]}).", None
        session.expunge(suggestion)
        return None, suggestion


async def close_button(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference, _, status = str(_action_data(ctx).get("value") or "").partition("|")
    refusal, suggestion = await _db(lambda: _owner_refusal(teams, ctx.activity, reference))
    if refusal:
        return _say(refusal)
    return _replace(_owner_card(suggestion, _close_form(reference, status)))


def _close_form(reference: str, status: str, error: str | None = None) -> list[dict[str, Any]]:
    wont = status == "wont_do"
    label = "Why not? (its author will read this)" if wont else "What changed? (optional; its author will read this)"
    return _note_form(CLOSE_SEND, label, reference, limit=service.NOTE_LIMIT, required=wont, error=error, status=status)


async def close_send(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    data = _action_data(ctx)
    reference, status = str(data.get("value") or ""), str(data.get("status") or "")
    note = str(data.get(NOTE_INPUT) or "")
    answer, refusal = await _db(lambda: _set_status(teams, ctx.activity, reference, status, note))
    if refusal is None:
        return answer
    still, suggestion = await _db(lambda: _owner_refusal(teams, ctx.activity, reference))
    if still:
        return _say(still)
    return _replace(_owner_card(suggestion, _close_form(reference, status, refusal)))


async def owner_reply_button(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference = str(_action_data(ctx).get("value") or "")
    refusal, suggestion = await _db(lambda: _owner_refusal(teams, ctx.activity, reference))
    if refusal:
        return _say(refusal)
    return _replace(_owner_card(suggestion, _reply_form(reference)))


def _reply_form(reference: str, error: str | None = None) -> list[dict[str, Any]]:
    label = f"Your reply to Anonymous {reference} (they see your name; they can answer, still anonymously)"
    return _note_form(OWNER_REPLY_SEND, label, reference, limit=service.TEXT_LIMIT, required=True, error=error)


async def owner_reply_send(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    data = _action_data(ctx)
    reference, text, form_id = (
        str(data.get("value") or ""),
        str(data.get(NOTE_INPUT) or ""),
        str(data.get("form") or ""),
    )
    activity = ctx.activity

    def work() -> tuple[Any, str | None]:
        with teams.session_factory.begin() as session:
            asker = _asker(session, activity, teams)
            now = teams.clock.now()
            try:
                posted = service.owner_reply(
                    session,
                    asker.workspace,
                    asker.person,
                    reference,
                    text,
                    box=teams.box,
                    settings=teams.settings,
                    now=now,
                    form_id=form_id or None,
                )
            except service.SuggestionError as error:
                session.rollback()
                return None, error_text(error)
            if posted.created and activity.conversation.conversation_type == CHANNEL_CONVERSATION:
                # The card's conversation is its thread in the channel (`…;messageid=…`): other owners
                # read what was answered there, worded the same whether or not the author can be reached.
                service.record_in_thread(
                    session,
                    asker.workspace,
                    asker.person,
                    posted.message,
                    reference,
                    channel=activity.conversation.id,
                    thread=None,
                    now=now,
                )
            suggestion = service.find(session, asker.workspace, reference)
            return _owner_card(suggestion), None

    card, refusal = await _db(work)
    if card is not None:
        card["body"].append(_text(messages.THREAD_NOTE, size="Small", isSubtle=True))
        return _replace(card)
    still, suggestion = await _db(lambda: _owner_refusal(teams, activity, reference))
    if still:
        return _say(still)
    return _replace(_owner_card(suggestion, _reply_form(reference, refusal)))


async def owner_cancel(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference = str(_action_data(ctx).get("value") or "")

    def load() -> Any:
        with teams.session_factory() as session:
            found = service.find(session, _asker(session, ctx.activity, teams).workspace, reference)
            return _owner_card(found) if found is not None else None

    card = await _db(load)
    return _replace(card) if card is not None else _say(f"Suggestion {reference[:20]} is no longer there.")


def _author_refusal(teams: TeamsContext, activity: ActivityBase, reference: str) -> str | None:
    with teams.session_factory() as session:
        asker = _asker(session, activity, teams)
        suggestion = service.find(session, asker.workspace, reference)
        mine = (
            suggestion is not None
            and asker.person is not None
            and suggestion in service.authored_by(session, asker.workspace, asker.person, teams.box)
        )
        if suggestion is None or not mine:
            return f"Suggestion {reference[:20]} is no longer there, so there's nothing to answer."
        if suggestion.status in service.CLOSED:
            return f"{suggestion.reference} is closed, so replies are off. Type suggest to start a new one."
    return None


def _answer_card(reference: str, error: str | None = None) -> dict[str, Any]:
    intro = _text(f"**Answer on {reference}**. The owners will see it as “Anonymous {reference}”, with the date only.")
    label = "Your answer"
    return _card(
        [intro, *_note_form(AUTHOR_REPLY_SEND, label, reference, limit=service.TEXT_LIMIT, required=True, error=error)]
    )


async def author_reply_button(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    reference = str(_action_data(ctx).get("value") or "")
    refusal = await _db(lambda: _author_refusal(teams, ctx.activity, reference))
    if refusal:
        return _say(refusal)
    # The card clicked holds the owner's words, which we do not keep with the message: the form goes
    # below it, as a card of its own, in the author's chat (nothing is queued or stored).
    await ctx.send(_activity(_answer_card(reference), f"Answer on {reference}"))
    return _say("Write your answer in the card below.")


async def author_reply_send(ctx: ActivityContext[AdaptiveCardInvokeActivity], teams: TeamsContext) -> Any:
    data = _action_data(ctx)
    reference, text, form_id = (
        str(data.get("value") or ""),
        str(data.get(NOTE_INPUT) or ""),
        str(data.get("form") or ""),
    )

    def work() -> str | None:
        with teams.session_factory.begin() as session:
            asker = _asker(session, ctx.activity, teams)
            if asker.person is None:
                return NOT_IN_DIRECTORY
            try:
                service.author_reply(
                    session,
                    asker.workspace,
                    asker.person,
                    reference,
                    text,
                    box=teams.box,
                    settings=teams.settings,
                    now=teams.clock.now(),
                    form_id=form_id or None,
                )
            except service.SuggestionError as error:
                session.rollback()
                return error_text(error)
        return None

    refusal = await _db(work)
    if refusal is None:
        return _replace(_card([_text(f"Your answer on {reference} is on its way to the owners, anonymously.")]))
    if await _db(lambda: _author_refusal(teams, ctx.activity, reference)):
        return _say(_plain(refusal))
    return _replace(_answer_card(reference, refusal))


# -- wiring ---------------------------------------------------------------------------------------------------

COMMANDS = {"suggest": suggest}
CHANNEL_COMMANDS = {"suggest": suggest_in_channel}

_BUTTONS = {
    messages.DELETE_ACTION: delete_button,
    messages.STATUS_ACTION: status_button,
    messages.CLOSE_ACTION: close_button,
    messages.OWNER_REPLY_ACTION: owner_reply_button,
    messages.AUTHOR_REPLY_ACTION: author_reply_button,
    CLOSE_SEND: close_send,
    OWNER_REPLY_SEND: owner_reply_send,
    OWNER_CANCEL: owner_cancel,
    AUTHOR_REPLY_SEND: author_reply_send,
}


def register(app: App, teams: TeamsContext) -> None:
    @app.on_dialog_open(FORM_DIALOG)
    async def dialog_open(ctx: ActivityContext[TaskFetchInvokeActivity]) -> TaskModuleResponse:
        return await open_form(ctx, teams)

    @app.on_dialog_submit(FORM_SUBMIT)
    async def dialog_submit(ctx: ActivityContext[TaskSubmitInvokeActivity]) -> TaskModuleResponse:
        return await submit_form(ctx, teams)

    for action_id, handler in _BUTTONS.items():
        _on_button(app, teams, action_id, handler)


def _on_button(app: App, teams: TeamsContext, action_id: str, handler: Callable[..., Any]) -> None:
    async def clicked(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> Any:
        return await handler(ctx, teams)

    app.on_card_action_execute(action_id)(clicked)
