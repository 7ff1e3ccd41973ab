"""Pulse surveys on Teams: answer clicks, skip, review, the comment dialog, and the `pulse` command.

The pulse DM is the neutral message the jobs queue (`surveys/jobs.py`), rendered as an Adaptive Card
whose buttons are `Action.Execute` with data `{action, value}`: the same action ids and values as on
Slack. A click arrives as an `adaptiveCard/action` invoke; it is answered with the card as it should
now read (`AdaptiveCardActionCardResponse`: Teams shows it in place of the card clicked), so a click
costs no call to the Bot Connector and no send budget. What a click does is `surveys/answering.py`'s
decision, in one transaction; the card is rendered after the commit.

A click that cannot count (someone else's card, a closed round, a forged value) is answered with a
message (`AdaptiveCardActionMessageResponse`): the card stays as it was, and nothing is stored.

The comment button opens a dialog (`task/fetch`, a `Button.dialog`, see `render/message.py`); its form comes
back as `task/submit`. A dialog's answer can only be the dialog, so after a comment is saved the pulse
card is updated with one Bot Connector call, as Slack's `chat.update` does.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from microsoft_teams.api import (
    ActivityBase,
    AdaptiveCardInvokeActivity,
    MessageActivity,
    MessageActivityInput,
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.api.models import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
    AdaptiveCardInvokeResponse,
    Attachment,
    CardTaskModuleTaskInfo,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleResponse,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.utils import extract_tenant_id
from microsoft_teams.cards import AdaptiveCard
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.accounts import find_by_account
from bot.core.message import Message
from bot.core.models import Person, Team, Workspace
from bot.core.people import is_hr
from bot.core.workspaces import find_workspace
from bot.delivery.inbound import Click, Command, Submission
from handlers.teams.accounts import TEAMS, ConversationRef
from handlers.teams.context import PERSONAL, TeamsContext
from handlers.teams.render.markdown import escape
from handlers.teams.render.message import CARD_CONTENT_TYPE, CARD_SCHEMA, CARD_VERSION, error_text, render
from surveys import answering
from surveys.jobs import open_pulse_now
from surveys.models import PulseSchedule
from surveys.pack_store import workspace_bank
from surveys.pulse_messages import (
    ANSWER_ACTION,
    COMMENT_ACTION,
    REVIEW_ACTION,
    SELECT_ACTION,
    SKIP_ACTION,
    parse_action_value,
)
from surveys.rounds import (
    COMMENT_LIMIT,
    MIN_GROUP_COMMENTS,
    NotInvited,
    PulseError,
    RoundNotFound,
    comment_problem,
    open_progress_for,
)
from surveys.schedules import ScheduleError, describe, find_team

logger = logging.getLogger(__name__)

COMMENT_FORM = "pulse.comment_view"  # the dialog's submit action, as Slack's modal's callback id
_ANSWER = re.compile(rf"^{re.escape(ANSWER_ACTION)}\.\d+$")
_CARD_ACTIONS = frozenset({SELECT_ACTION, SKIP_ACTION, REVIEW_ACTION})

PRIVACY = "Type **privacy** to see what I keep about you, and **help** for what I do."
PULSE_HELP = (
    "**pulse** shows your open pulse survey. HR can also use **pulse send** (everyone) or **pulse send Team "
    "name** to send a pulse now, and **pulse schedule** to see the pulse schedules; schedules are changed in "
    "the Slack app or with empathy-bot for now. " + PRIVACY
)
HR_ONLY = "Only HR admins can do that. **pulse** on its own shows your open pulse."
CHOOSE_FIRST = "Please choose an answer from the list first, then press Send. Nothing was recorded yet."
SOMEONE_ELSES = (
    "That pulse card was sent to someone else, so your click didn't count and nothing was recorded. "
    "Your own pulse comes to our 1:1 chat; type **pulse** there to see it."
)
REVIEW_CLOSED = "That pulse has closed, so answers can't be changed any more. Thank you for taking part!"
COMMENT_CLOSED = "That pulse has closed, so comments can't be added any more. Thank you for taking part!"
COMMENT_NOTE = (
    f"Comments are shown only when at least {MIN_GROUP_COMMENTS} people in a group answered, shuffled and dated "
    "to the round's end, never with your name. Please leave out details that would identify you."
)


@dataclass(frozen=True)
class Who:
    """Who clicked, and where: what the activity says, read on the SDK's loop, before any thread."""

    tenant_id: str
    aad_object_id: str
    conversation_id: str
    conversation_type: str
    message_id: str | None


def _who(activity: ActivityBase) -> Who:
    return Who(
        tenant_id=(extract_tenant_id(activity) or "").lower(),
        aad_object_id=(activity.from_.aad_object_id or "").lower(),
        conversation_id=activity.conversation.id,
        conversation_type=activity.conversation.conversation_type or "",
        message_id=activity.reply_to_id,
    )


def _identify(session: Session, teams: TeamsContext, who: Who) -> tuple[Workspace | None, Person | None]:
    """The tenant's workspace and the person with this Entra object id (None for someone the bot has
    never met; a click from another tenant finds no workspace)."""
    if not who.tenant_id or who.tenant_id != (teams.settings.teams_tenant_id or "").lower():
        return None, None
    workspace = find_workspace(session, who.tenant_id, platform=TEAMS)
    if workspace is None or not who.aad_object_id:
        return workspace, None
    return workspace, find_by_account(session, workspace, who.aad_object_id)


def _refuse_someone_elses_card(who: Who, person: Person | None) -> None:
    """A pulse card belongs to one person and is sent to their 1:1 chat with the bot: a click from any
    other conversation (a group chat, a channel, someone else's chat), or by anyone else, must not
    answer, nor show anyone's answers."""
    if who.conversation_type != PERSONAL:
        raise PulseError(SOMEONE_ELSES)
    account = person.account(TEAMS) if person is not None else None
    if account is None or not account.conversation_ref:
        return  # the answering service refuses someone it did not invite
    if ConversationRef.from_json(account.conversation_ref).conversation_id != who.conversation_id:
        raise PulseError(SOMEONE_ELSES)


# -- rendering ---------------------------------------------------------------------------------


def _card_response(message: Message) -> AdaptiveCardActionCardResponse:
    card = render(message)["attachments"][0]["content"]
    return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(card))


def _message_response(text: str) -> AdaptiveCardActionMessageResponse:
    return AdaptiveCardActionMessageResponse(value=text)


def comment_form(*, question: str, existing: str | None, state: str, problem: str | None = None) -> dict[str, Any]:
    """The dialog's Adaptive Card: the question, the comment box (with what was typed, and why it could
    not be saved, when it comes back), and Save. `state` comes back with the form, as Slack's
    private_metadata."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"**{escape(question)}**", "wrap": True},
        {
            "type": "Input.Text",
            "id": "comment",
            "label": f"Your comment (up to {COMMENT_LIMIT} characters)",
            "placeholder": "Anything you'd like to add (optional)",
            "isMultiline": True,
            "maxLength": COMMENT_LIMIT,
            **({"value": existing} if existing else {}),
        },
        {"type": "TextBlock", "text": COMMENT_NOTE, "wrap": True, "size": "Small", "isSubtle": True},
    ]
    if problem:
        body.insert(1, {"type": "TextBlock", "text": problem, "wrap": True, "color": "Attention"})
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "actions": [{"type": "Action.Submit", "title": "Save", "data": {"action": COMMENT_FORM, "state": state}}],
    }


def _dialog(card: dict[str, Any]) -> TaskModuleResponse:
    attachment = Attachment(content_type=CARD_CONTENT_TYPE, content=card)
    return TaskModuleResponse(
        task=TaskModuleContinueResponse(value=CardTaskModuleTaskInfo(title="Add a comment", card=attachment))
    )


def _dialog_message(text: str) -> TaskModuleResponse:
    return TaskModuleResponse(task=TaskModuleMessageResponse(value=text))


# -- clicks ------------------------------------------------------------------------------------


def _click_of(data: Mapping[str, Any]) -> Click:
    """The neutral click a card's data carries: a button's value, or for the drop-down the option chosen
    (Teams merges the card's inputs into the data, under the input's id, which `input` names)."""
    action = str(data.get("action") or "")
    if action == SELECT_ACTION:
        chosen = data.get(str(data.get("input") or ""))
        return Click(ANSWER_ACTION, chosen if isinstance(chosen, str) else "")
    value = data.get("value")
    return Click(SKIP_ACTION if action == SKIP_ACTION else ANSWER_ACTION, value if isinstance(value, str) else "")


def answer_click(teams: TeamsContext, who: Who, click: Click) -> AdaptiveCardInvokeResponse:
    try:
        with teams.session_factory.begin() as session:
            workspace, person = _identify(session, teams, who)
            _refuse_someone_elses_card(who, person)
            if workspace is None:
                raise NotInvited()
            answered = answering.answer(session, workspace, person, click, box=teams.box, now=teams.clock.now())
    except PulseError as error:
        return _message_response(error_text(error))
    return _card_response(answered.message)


def review_click(teams: TeamsContext, who: Who, value: str) -> AdaptiveCardInvokeResponse:
    round_id = int(value) if value.isdigit() else -1
    try:
        with teams.session_factory() as session:
            workspace, person = _identify(session, teams, who)
            _refuse_someone_elses_card(who, person)
            questions = (
                answering.review(session, workspace, person, round_id, box=teams.box, now=teams.clock.now())
                if workspace is not None
                else None
            )
    except PulseError as error:
        return _message_response(error_text(error))
    if questions is None:
        return _message_response(REVIEW_CLOSED)
    return _card_response(questions)


# -- the comment dialog ------------------------------------------------------------------------


def open_comment(teams: TeamsContext, who: Who, value: str) -> TaskModuleResponse:
    parsed = parse_action_value(value)
    try:
        with teams.session_factory() as session:
            workspace, person = _identify(session, teams, who)
            _refuse_someone_elses_card(who, person)
            if workspace is None:
                raise NotInvited()
            question = workspace_bank(session, workspace.id).question(parsed[1]) if parsed else None
            if parsed is None or question is None:
                raise RoundNotFound()
            found = open_progress_for(session, teams.box, person, teams.clock.now())
            company = answering.company_of(workspace)
    except PulseError as error:
        return _dialog_message(error_text(error))
    if found is None or found.round.id != parsed[0]:
        return _dialog_message(COMMENT_CLOSED)
    existing = found.answers.get(question.id)
    # The card's message id rides along: the dialog's submit is answered by the dialog, so the card is
    # updated separately, by id.
    state = f"{parsed[0]}|{question.id}|{who.message_id or ''}"
    return _dialog(
        comment_form(
            question=question.render_text(company), existing=existing.comment if existing else None, state=state
        )
    )


@dataclass(frozen=True)
class Commented:
    dialog: TaskModuleResponse | None  # None closes the dialog
    card: Message | None = None  # the pulse card as it should now read
    message_id: str | None = None


def submit_comment(teams: TeamsContext, who: Who, data: Mapping[str, Any]) -> Commented:
    raw = data.get("comment")
    typed = raw if isinstance(raw, str) else ""
    round_part, _, rest = str(data.get("state") or "").partition("|")
    question_id, _, message_id = rest.partition("|")
    problem = comment_problem(typed)
    if problem is not None:
        return Commented(_form_again(teams, who, round_part, question_id, message_id, typed, error_text(problem)))
    submission = Submission(COMMENT_FORM, {"comment": typed}, state=f"{round_part}|{question_id}")
    try:
        with teams.session_factory.begin() as session:
            workspace, person = _identify(session, teams, who)
            _refuse_someone_elses_card(who, person)
            if workspace is None:
                raise NotInvited()
            answered = answering.comment(session, workspace, person, submission, box=teams.box, now=teams.clock.now())
    except PulseError as error:
        return Commented(_dialog_message(error_text(error)))
    return Commented(None, answered.message, message_id or None)


def _form_again(
    teams: TeamsContext, who: Who, round_part: str, question_id: str, message_id: str, typed: str, problem: str
) -> TaskModuleResponse:
    """The form as it was sent, with what was typed and why it can't be saved yet."""
    with teams.session_factory() as session:
        workspace, _ = _identify(session, teams, who)
        question = workspace_bank(session, workspace.id).question(question_id) if workspace else None
        company = answering.company_of(workspace) if workspace else answering.DEFAULT_COMPANY
    text = question.render_text(company) if question else "Your comment"
    state = f"{round_part}|{question_id}|{message_id}"
    return _dialog(comment_form(question=text, existing=typed, state=state, problem=problem))


# -- `pulse` -----------------------------------------------------------------------------------


def status_text(teams: TeamsContext, who: Who) -> str:
    with teams.session_factory() as session:
        workspace, person = _identify(session, teams, who)
        try:
            found = open_progress_for(session, teams.box, person, teams.clock.now()) if workspace else None
        except PulseError as error:
            return error_text(error)
    if found is None:
        return f"There's no pulse open for you right now. The next one will arrive in this chat. {PRIVACY}"
    state = (
        "You've answered everything, thank you!"
        if found.done
        else f"You've answered {found.answered} of {len(found.question_ids)}; it's in this chat."
    )
    return (
        f"Your pulse is open until {found.round.closes_at:%a %d %b}. {state} "
        f"Results are only shown for groups of {found.round.min_group} or more. {PRIVACY}"
    )


def send_now(teams: TeamsContext, who: Who, team_name: str) -> str:
    """HR's `pulse send [team]`: an ad-hoc pulse on the default settings, at most one a day."""
    with teams.session_factory.begin() as session:
        workspace, person = _identify(session, teams, who)
        if workspace is None or person is None or not is_hr(session, person, teams.settings):
            return HR_ONLY
        try:
            team = find_team(session, workspace, team_name) if team_name else None
        except ScheduleError as error:
            return escape(str(error))
        opened = open_pulse_now(
            session,
            workspace,
            workspace_bank(session, workspace.id),
            teams.box,
            now=teams.clock.now(),
            team_id=team.id if team else None,
        )
        whom = escape(team.name) if team else "everyone"
        count = len(opened.invitations)
        closes = f"{opened.round.closes_at:%a %d %b}"
    if not opened.created:
        return f"A pulse for {whom} was already sent today, so I didn't send another. It's open until {closes}."
    if count == 0:
        return (
            f"Nobody in {whom} can get a pulse yet: people need Empathy Bot installed in Teams (your Teams admin "
            "can install it for everyone). Nothing was sent."
        )
    return f"Done: a pulse for {whom} is on its way to {count} {'person' if count == 1 else 'people'}. It's open until {closes}."


def schedules_text(teams: TeamsContext, who: Who) -> str:
    with teams.session_factory() as session:
        workspace, person = _identify(session, teams, who)
        if workspace is None or person is None or not is_hr(session, person, teams.settings):
            return HR_ONLY
        schedules = session.scalars(
            select(PulseSchedule).where(PulseSchedule.workspace_id == workspace.id, PulseSchedule.active.is_(True))
        ).all()
        lines = []
        for schedule in schedules:
            team = session.get(Team, schedule.team_id) if schedule.team_id else None
            lines.append("- " + escape(describe(schedule, team.name if team else None)))
    if not lines:
        return "No pulse schedule is set up yet. HR can set one in the Slack app or with empathy-bot."
    return "**Pulse schedules**\n\n" + "\n".join(lines)


async def pulse_command(ctx: ActivityContext[MessageActivity], teams: TeamsContext, command: Command) -> None:
    verb = command.verb
    who = _who(ctx.activity)
    if verb in ("", "status"):
        await ctx.send(await asyncio.to_thread(status_text, teams, who))
    elif verb == "help":
        await ctx.send(PULSE_HELP)
    elif verb == "send":
        await ctx.send(await asyncio.to_thread(send_now, teams, who, command.rest))
    elif verb == "schedule":
        await ctx.send(await asyncio.to_thread(schedules_text, teams, who))
    else:
        await ctx.send(f"I don't know **pulse {escape(verb[:40])}**. {PULSE_HELP}")


COMMANDS = {"pulse": pulse_command}


def _is_pulse_click(activity: ActivityBase) -> bool:
    if not isinstance(activity, AdaptiveCardInvokeActivity) or not activity.value or not activity.value.action:
        return False
    if activity.value.action.type != "Action.Execute":
        return False
    action = (activity.value.action.data or {}).get("action")
    return isinstance(action, str) and (action in _CARD_ACTIONS or _ANSWER.match(action) is not None)


def register(app: App, teams: TeamsContext) -> None:
    async def click(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        data = dict(ctx.activity.value.action.data or {})
        who = _who(ctx.activity)
        if data.get("action") == REVIEW_ACTION:
            value = data.get("value")
            return await asyncio.to_thread(review_click, teams, who, value if isinstance(value, str) else "")
        click = _click_of(data)
        if not click.value and data.get("action") == SELECT_ACTION:
            return _message_response(CHOOSE_FIRST)
        return await asyncio.to_thread(answer_click, teams, who, click)

    # One route for every answer button (`pulse.answer.<value>`, as many as a scale has options), the
    # drop-down, skip and review: the SDK's `on_card_action_execute` matches one action id exactly.
    app.router.add_handler(_is_pulse_click, click)  # type: ignore[arg-type]

    @app.on_dialog_open(COMMENT_ACTION)
    async def comment_dialog(ctx: ActivityContext[TaskFetchInvokeActivity]) -> TaskModuleResponse:
        data = ctx.activity.value.data if isinstance(ctx.activity.value.data, dict) else {}
        value = data.get("value")
        return await asyncio.to_thread(open_comment, teams, _who(ctx.activity), value if isinstance(value, str) else "")

    @app.on_dialog_submit(COMMENT_FORM)
    async def comment_submitted(ctx: ActivityContext[TaskSubmitInvokeActivity]) -> TaskModuleResponse | None:
        data = ctx.activity.value.data if isinstance(ctx.activity.value.data, dict) else {}
        who = _who(ctx.activity)
        done = await asyncio.to_thread(submit_comment, teams, who, data)
        if done.card is not None and done.message_id:
            try:
                await ctx.api.conversations.update_activity(
                    who.conversation_id, done.message_id, MessageActivityInput.model_validate(render(done.card))
                )
            except Exception as error:
                # The comment is saved either way; the card catches up on the next click.
                logger.warning("could not update a pulse card after a comment: %s", type(error).__name__)
        return done.dialog
