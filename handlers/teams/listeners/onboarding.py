"""Onboarding journeys on Teams (issue #17): the `onboard` command, Done buttons and check-ins.

Journeys are enrolled by the jobs and the org sync, which know no platform (Teams has no `team_join`:
a Teams new hire comes with the Graph directory or the org file), or by hand with `onboard @person`.
Everything decided here is decided in `bot/onboarding/steps.py`, which Slack's listener calls too.

- **Done**: a task's button is an `Action.Execute`; its invoke's answer is the card as it should now
  read. Teams does not send the card with the click, so the card is drawn again from where it came
  from: the outbox row of the message the click came from (found by the activity id the sender
  recorded), with every task line as it is now; a click on the `onboard` checklist (a reply, not in
  the outbox) redraws the checklist. A refusal (someone else's task) answers with a message and leaves the card as it was.
- **Check-ins**: the score buttons ask Teams for a dialog (`task/fetch`): the form with the score,
  an optional comment and the consent toggle. Its `task/submit` records the answer as on Slack and
  rewrites the check-in message in the chat (it says whether the answer was shared).
- **Buddy**: the manager's prompt holds Teams' people picker; the pick (an Entra object id) answers
  with the prompt redrawn, or a message saying why that person won't do.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from microsoft_teams.api import (
    AdaptiveCardInvokeActivity,
    MessageActivity,
    MessageActivityInput,
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.apps import ActivityContext, App
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.accounts import find_by_account
from bot.core.errors import UserFacingError
from bot.core.message import Command, Message, Section, is_neutral, text
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.core.people import is_hr
from bot.delivery.inbound import Click
from bot.delivery.inbound import Command as Typed
from bot.onboarding import steps
from bot.onboarding.messages import (
    BUDDY_ACTION,
    BUDDY_BLOCK,
    CHECKIN_ACTION,
    CONSENT_QUESTION,
    DONE_ACTION,
    SCALE,
    TaskLine,
    task_section,
)
from bot.onboarding.models import OnboardingStep
from handlers.teams.accounts import teams_workspace
from handlers.teams.context import TeamsContext
from handlers.teams.render.markdown import escape
from handlers.teams.render.message import CARD_CONTENT_TYPE, CARD_SCHEMA, CARD_VERSION, error_text, render

logger = logging.getLogger(__name__)

CHECKIN_SUBMIT = "onboard.checkin_submit"
STEP_BLOCK = "onboard.step."
COMMENT_MAX = 1000
HELP = text(
    Command("onboard"),
    " shows your onboarding checklist and any onboarding tasks you have for others.\n"
    "HR and managers can start someone's journey: ",
    Command("onboard @person [template] [start YYYY-MM-DD]"),
    ", e.g. ",
    Command("onboard @Noor sales start 2026-12-01"),
    " (type @ and pick the person from the list). Without a template, the one for their team is used "
    "(else default); without a start date, their start date from the org file (else today).",
)
AT_TAG = re.compile(r"^<at>(.*?)</at>\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Who:
    """The person behind an activity, as the Teams side knows them: their Entra object id and tenant."""

    aad_object_id: str | None
    tenant_id: str | None


def _who(activity: Any) -> Who:
    tenant = activity.conversation.tenant_id or (
        activity.channel_data.tenant.id if activity.channel_data and activity.channel_data.tenant else None
    )
    return Who(activity.from_.aad_object_id, tenant)


def _identity(session: Session, teams: TeamsContext, who: Who) -> tuple[Workspace, Person | None]:
    tenant = (teams.settings.teams_tenant_id or "").lower()
    workspace = teams_workspace(session, tenant)
    # A single-tenant registration: someone from another tenant is nobody here.
    if not who.aad_object_id or (who.tenant_id or "").lower() != tenant:
        return workspace, None
    return workspace, find_by_account(session, workspace, who.aad_object_id.lower())


# -- the `onboard` command -----------------------------------------------------------------------


async def onboard_command(ctx: ActivityContext[MessageActivity], teams: TeamsContext, command: Typed) -> None:
    words = command.words.split()
    if words and words[0].lower() == "help":
        await ctx.send(_card(Message(text("Onboarding: how it works"), (Section(HELP),))))
        return
    who = _who(ctx.activity)
    if not words or words[0].lower() == "status":
        checklist = await asyncio.to_thread(_checklist, teams, who)
        await ctx.send(_card(checklist))
        return
    mention = AT_TAG.match(command.words)
    if mention is None:
        reply = text("Onboarding: I didn't understand that. ", HELP)
    else:
        target_id = _mentioned_id(ctx.activity, mention.group(1))
        try:
            reply = await asyncio.to_thread(_enrol, teams, who, target_id, mention.group(2).split())
        except UserFacingError as error:
            await ctx.send(error_text(error))
            return
    await ctx.send(_card(Message(reply, (Section(reply),))))


def _mentioned_id(activity: MessageActivity, tag_text: str) -> str | None:
    """The Entra object id of the person an `<at>` tag names, from the message's mention entities."""
    for entity in activity.entities or []:
        if getattr(entity, "type", None) != "mention":
            continue
        mentioned = getattr(entity, "mentioned", None)
        if mentioned is None or (getattr(entity, "text", None) or "") != f"<at>{tag_text}</at>":
            continue
        # Teams gives the per-bot `29:` id, and the Entra object id beside it for people in the tenant.
        found = mentioned.aad_object_id or (mentioned.id if _is_guid(mentioned.id) else None)
        return found.lower() if found else None
    return None


def _is_guid(value: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value) is not None


def _checklist(teams: TeamsContext, who: Who) -> Message:
    with teams.session_factory() as session:
        _workspace, person = _identity(session, teams, who)
        return steps.checklist(session, person, teams.clock.now())


def _enrol(teams: TeamsContext, who: Who, target_id: str | None, words: list[str]) -> Any:
    with teams.session_factory.begin() as session:
        workspace, actor = _identity(session, teams, who)
        target = find_by_account(session, workspace, target_id) if target_id else None
        hr = actor is not None and actor.active and is_hr(session, actor, teams.settings)
        return steps.enrol_by_hand(session, workspace, actor, target, words, is_hr=hr, now=teams.clock.now())


def _card(message: Message) -> MessageActivityInput:
    return MessageActivityInput.model_validate(render(message))


# -- Done buttons --------------------------------------------------------------------------------


def card_response(message: Message) -> dict[str, Any]:
    """An `adaptiveCard/action` answer that replaces the card with `message`."""
    content = render(message)["attachments"][0]["content"]
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": content}


def message_response(words: str) -> dict[str, Any]:
    """An `adaptiveCard/action` answer that leaves the card as it is and tells the person `words`."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": words}


def _done(teams: TeamsContext, who: Who, value: str, message_id: str | None) -> dict[str, Any]:
    try:
        with teams.session_factory.begin() as session:
            _workspace, person = _identity(session, teams, who)
            hr = person is not None and is_hr(session, person, teams.settings)
            now = teams.clock.now()
            line = steps.tick(session, person, Click(DONE_ACTION, value), is_hr=hr, now=now)
            assert person is not None  # `tick` refuses nobody
            card = _card_of(session, person, line.step_id, message_id)
            if card is not None:
                return card_response(_refreshed(session, card))
            return card_response(_with_line(steps.checklist(session, person, now), line))
    except UserFacingError as error:
        return message_response(error_text(error))


def _card_of(session: Session, person: Person, step_id: int, message_id: str | None) -> Message | None:
    """The onboarding message of the person's that the click came from, as it was sent: the one sent
    as activity `message_id`; else, from a sender that kept no activity ids, the latest one sent that
    holds the task. None for a card that never went through the outbox (the `onboard` checklist)."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.person_id == person.id,
            OutboxMessage.idempotency_key.like("onboard:%"),
            OutboxMessage.state == OutboxState.SENT.value,
        )
        .order_by(OutboxMessage.id.desc())
    ).all()
    block = f"{STEP_BLOCK}{step_id}"
    for row in rows:
        if message_id and row.sent_ts == message_id and is_neutral(row.payload):
            return Message.from_json(row.payload["message"])
    for row in rows:
        if row.sent_ts is None and is_neutral(row.payload):
            message = Message.from_json(row.payload["message"])
            if any(isinstance(b, Section) and b.block_id == block for b in message.blocks):
                return message
    return None


def _with_line(checklist: Message, line: TaskLine) -> Message:
    """The checklist, the task just ticked kept in it as a ticked line (as Slack redraws it), after the
    progress line: ticked tasks are no longer open, so a fresh checklist would drop it."""
    if any(isinstance(b, Section) and b.block_id == f"{STEP_BLOCK}{line.step_id}" for b in checklist.blocks):
        return checklist
    at = (
        1
        if checklist.blocks and isinstance(checklist.blocks[0], Section) and checklist.blocks[0].block_id is None
        else 0
    )
    blocks = (*checklist.blocks[:at], task_section(line), *checklist.blocks[at:])
    return replace(checklist, blocks=blocks)


def _refreshed(session: Session, message: Message) -> Message:
    """`message` with each of its task lines as it reads now (ticked here, or elsewhere since)."""
    blocks = []
    for block in message.blocks:
        if isinstance(block, Section) and (block.block_id or "").startswith(STEP_BLOCK):
            raw = (block.block_id or "").removeprefix(STEP_BLOCK)
            step = session.get(OnboardingStep, int(raw)) if raw.isdigit() else None
            if step is not None:
                block = task_section(steps.task_line(session, step))
        blocks.append(block)
    return replace(message, blocks=tuple(blocks))


# -- the buddy prompt ---------------------------------------------------------------------------


def _pick_buddy(teams: TeamsContext, who: Who, journey_raw: str, chosen: str) -> dict[str, Any]:
    """The manager's pick in Teams' people picker: the chosen person's Entra object id."""
    try:
        with teams.session_factory.begin() as session:
            workspace, person = _identity(session, teams, who)
            buddy = find_by_account(session, workspace, chosen.lower()) if chosen else None
            journey_id = int(journey_raw) if journey_raw.isdigit() else None
            return card_response(steps.pick_buddy(session, workspace, person, journey_id, buddy))
    except UserFacingError as error:
        return message_response(error_text(error))


# -- check-ins -----------------------------------------------------------------------------------


def dialog_card(form: steps.CheckinForm, score: int, message_id: str, *, error: str | None = None) -> dict[str, Any]:
    """The check-in form, as Slack's modal: the score, an optional comment and the consent toggle."""
    who = form.manager or "your manager"
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": escape(form.question), "wrap": True, "weight": "Bolder"},
        {
            "type": "Input.ChoiceSet",
            "id": "score",
            "label": "Your answer (1–5)",
            "style": "expanded",
            "isRequired": True,
            "errorMessage": "Please pick a number from 1 to 5.",
            "choices": [{"title": label, "value": str(value)} for value, label in SCALE.items()],
            "value": str(min(max(score, 1), 5)),
        },
        {
            "type": "Input.Text",
            "id": "comment",
            "label": "Anything to add? (optional)",
            "isMultiline": True,
            "maxLength": COMMENT_MAX,
        },
        {
            "type": "TextBlock",
            "text": "Your comment is only kept if you share it below.",
            "wrap": True,
            "size": "Small",
            "isSubtle": True,
            "spacing": "None",
        },
        {
            "type": "Input.Toggle",
            "id": "consent",
            "label": CONSENT_QUESTION,
            "title": f"Yes, share my answer and comment with {who[:60]} and HR",
            "valueOn": "share",
            "valueOff": "no",
            "value": "no",
        },
        {
            "type": "TextBlock",
            "text": "If you leave this off, nobody sees your answer as yours: it only counts toward anonymous "
            "figures for new hires (groups of 5 or more), and no alert is sent, even for a 1 or 2.",
            "wrap": True,
            "size": "Small",
            "isSubtle": True,
        },
    ]
    if error:
        body.insert(1, {"type": "TextBlock", "text": error, "wrap": True, "color": "Attention"})
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "actions": [
            {
                "type": "Action.Submit",
                "title": "Send",
                "style": "positive",
                "data": {"action": CHECKIN_SUBMIT, "step": str(form.step_id), "message": message_id},
            }
        ],
    }


def _dialog(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": {
            "type": "continue",
            "value": {
                "title": "Onboarding check-in",
                "width": "medium",
                "height": "large",
                "card": {"contentType": CARD_CONTENT_TYPE, "content": card},
            },
        }
    }


def _dialog_message(words: str) -> dict[str, Any]:
    return {"task": {"type": "message", "value": words}}


def _open_checkin(teams: TeamsContext, who: Who, value: str, message_id: str) -> dict[str, Any]:
    step_raw, _, score_raw = value.partition("|")
    if not (step_raw.isdigit() and score_raw.isdigit()):
        return _dialog_message("I can't read that answer; please use the buttons.")
    try:
        with teams.session_factory() as session:
            _workspace, person = _identity(session, teams, who)
            form = steps.open_checkin(session, person, int(step_raw))
    except UserFacingError as error:
        return _dialog_message(error_text(error))
    return _dialog(dialog_card(form, int(score_raw), message_id))


@dataclass(frozen=True)
class Answered:
    """What a submitted check-in did: the check-in message as it now reads, or the form again with what to fix."""

    message: Message | None = None
    again: dict[str, Any] | None = None
    refusal: str | None = None


def _submit_checkin(teams: TeamsContext, who: Who, data: dict[str, Any]) -> Answered:
    step_raw, score_raw = str(data.get("step") or ""), str(data.get("score") or "")
    comment = data.get("comment") if isinstance(data.get("comment"), str) else None
    consent = data.get("consent") == "share"
    message_id = str(data.get("message") or "")
    if not step_raw.isdigit():
        return Answered(refusal="I can't find that check-in any more.")
    try:
        with teams.session_factory.begin() as session:
            _workspace, person = _identity(session, teams, who)
            form = steps.open_checkin(session, person, int(step_raw))
            if not score_raw.isdigit():
                return Answered(again=dialog_card(form, 3, message_id, error="Please pick a number from 1 to 5."))
            try:
                with session.begin_nested():
                    answered = steps.answer_checkin(
                        session,
                        person,
                        int(step_raw),
                        score=int(score_raw),
                        comment=comment,
                        consent=consent,
                        box=teams.box,
                        now=teams.clock.now(),
                    )
            except UserFacingError as error:
                # Something to fix in the form (a comment too long): show it again with what was wrong.
                return Answered(again=dialog_card(form, int(score_raw), message_id, error=error_text(error)))
            return Answered(message=answered)
    except UserFacingError as error:
        return Answered(refusal=error_text(error))


def register(app: App, teams: TeamsContext) -> None:
    @app.on_card_action_execute(DONE_ACTION)
    async def done(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> Any:
        data = ctx.activity.value.action.data
        value = str(data.get("value") or "")
        return await asyncio.to_thread(_done, teams, _who(ctx.activity), value, ctx.activity.reply_to_id)

    async def open_checkin(ctx: ActivityContext[TaskFetchInvokeActivity]) -> Any:
        data = ctx.activity.value.data if ctx.activity.value and isinstance(ctx.activity.value.data, dict) else {}
        message_id = ctx.activity.reply_to_id or ""
        return await asyncio.to_thread(
            _open_checkin, teams, _who(ctx.activity), str(data.get("value") or ""), message_id
        )

    @app.on_card_action_execute(BUDDY_ACTION)
    async def buddy(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> Any:
        data = ctx.activity.value.action.data
        journey_raw = str(data.get("block") or "").removeprefix(f"{BUDDY_BLOCK}.")
        # The picker's value comes back under the input's id, which the card's data names.
        chosen = str(data.get(str(data.get("input") or "")) or "")
        return await asyncio.to_thread(_pick_buddy, teams, _who(ctx.activity), journey_raw, chosen)

    for score in SCALE:
        app.on_dialog_open(f"{CHECKIN_ACTION}.{score}")(open_checkin)

    @app.on_dialog_submit(CHECKIN_SUBMIT)
    async def submit_checkin(ctx: ActivityContext[TaskSubmitInvokeActivity]) -> Any:
        data = ctx.activity.value.data if ctx.activity.value and isinstance(ctx.activity.value.data, dict) else {}
        result = await asyncio.to_thread(_submit_checkin, teams, _who(ctx.activity), data)
        if result.again is not None:
            return _dialog(result.again)
        if result.refusal is not None or result.message is None:
            return _dialog_message(result.refusal or "I can't find that check-in any more.")
        message_id = str(data.get("message") or "")
        if message_id and await _rewrite(ctx, message_id, result.message):
            return None  # the dialog closes; the check-in in the chat now says it was answered
        return _dialog_message("Thank you! Your check-in is saved.")


async def _rewrite(ctx: ActivityContext[TaskSubmitInvokeActivity], message_id: str, message: Message) -> bool:
    """Replace the check-in message in the chat with what it now reads; False if Teams would not."""
    try:
        await ctx.api.conversations.update_activity(ctx.activity.conversation.id, message_id, _card(message))
    except Exception as error:
        logger.warning("could not update a Teams check-in message: %s", type(error).__name__)
        return False
    return True


COMMANDS = {"onboard": onboard_command}
