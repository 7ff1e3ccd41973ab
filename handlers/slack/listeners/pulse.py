"""Pulse listeners: `/pulse`, answer clicks, skip, comments, review. Every listener acks first."""

from __future__ import annotations

import logging
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.message import Message
from bot.core.models import Person, Platform, Workspace
from bot.core.people import is_hr
from bot.delivery.inbound import Click, Submission
from handlers.slack.context import AppContext, empathy_context
from handlers.slack.listeners.common import ephemeral, error_text, escape, request_identity, request_ids
from handlers.slack.listeners.pulse_settings import open_settings
from handlers.slack.render.message import render
from handlers.slack.render.pulse import (
    ANSWER_ACTION,
    COMMENT_ACTION,
    COMMENT_VIEW,
    REVIEW_ACTION,
    SELECT_ACTION,
    SKIP_ACTION,
    comment_modal,
    parse_action_value,
)
from surveys import answering
from surveys.jobs import open_pulse_now
from surveys.models import PulseSchedule
from surveys.pack_store import workspace_bank
from surveys.rounds import (
    PulseError,
    RoundNotFound,
    comment_problem,
    open_progress_for,
)
from surveys.schedules import ScheduleError, describe, find_team

logger = logging.getLogger(__name__)

PRIVACY = "`/empathy help` explains what is stored and who can see what."
PULSE_HELP = (
    "*`/pulse`* shows your open pulse. HR can also use:\n"
    "• `/pulse send` (everyone) or `/pulse send Team name`: send a pulse now\n"
    "• `/pulse schedule`: show the pulse schedules\n"
    "• `/pulse settings` or `/pulse settings Team name`: change when pulses go out\n"
    f"{PRIVACY}"
)


# -- /pulse ------------------------------------------------------------------------------------


def handle_pulse_command(
    ack: Ack, command: dict[str, Any], context: dict[str, Any], respond: Respond, client: WebClient
) -> None:
    empathy = empathy_context(context)
    name, _, rest = (command.get("text") or "").strip().partition(" ")
    name = name.lower()
    if name in ("", "status"):
        with empathy.session_factory.begin() as session:
            _workspace, person = request_identity(session, context)
            ack(**_status_reply(session, empathy, person))
        return
    if name == "help":
        ack(**ephemeral(PULSE_HELP))
        return
    if name == "settings":
        ack()
        refusal = open_settings(client, command["trigger_id"], empathy, context, rest.strip())
        if refusal:
            respond(**ephemeral(refusal), replace_original=False)
        return
    if name not in ("send", "schedule"):
        ack(**ephemeral(f"I don't know `/pulse {escape(name[:40])}`.\n{PULSE_HELP}"))
        return
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        allowed = person is not None and is_hr(session, person, empathy.settings)
    if not allowed:
        ack(**ephemeral("Only HR admins can do that. `/pulse` on its own shows your open pulse."))
        return
    if name == "schedule":
        with empathy.session_factory() as session:
            workspace, _ = request_identity(session, context)
            ack(**ephemeral(_schedules_text(session, workspace)))
        return
    ack(**ephemeral("On it: opening a pulse now…"))
    respond(**ephemeral(_send_now(empathy, context, rest.strip())), replace_original=False)


def _status_reply(session: Session, empathy: AppContext, person: Person | None) -> dict[str, Any]:
    try:
        found = open_progress_for(session, empathy.box, person, empathy.clock.now())
    except PulseError as error:
        return ephemeral(escape(error_text(error)))
    if found is None:
        return ephemeral(f"There's no pulse open for you right now. The next one will arrive in your DMs. {PRIVACY}")
    state = (
        "You've answered everything, thank you!"
        if found.done
        else f"You've answered {found.answered} of {len(found.question_ids)}; it's in our DMs."
    )
    return ephemeral(
        f"Your pulse is open until {found.round.closes_at:%a %d %b}. {state} "
        f"Results are only shown for groups of {found.round.min_group} or more. {PRIVACY}"
    )


def _send_now(empathy: AppContext, context: dict[str, Any], team_name: str) -> str:
    with empathy.session_factory.begin() as session:
        workspace, _ = request_identity(session, context)
        try:
            team = find_team(session, workspace, team_name) if team_name else None
        except ScheduleError as error:
            return escape(str(error))
        opened = open_pulse_now(
            session,
            workspace,
            workspace_bank(session, workspace.id),
            empathy.box,
            now=empathy.clock.now(),
            team_id=team.id if team else None,
        )
        who = escape(team.name) if team else "everyone"  # team names come from the org file
        count = len(opened.invitations)
    if not opened.created:
        return (
            f"A pulse for {who} was already sent today, so I didn't send another. "
            f"It's open until {opened.round.closes_at:%a %d %b}."
        )
    if count == 0:
        return f"Nobody in {who} can get a pulse yet (people need a linked Slack account). Nothing was sent."
    return (
        f"Done: a pulse for {who} is on its way to {count} {'person' if count == 1 else 'people'}. "
        f"It's open until {opened.round.closes_at:%a %d %b}."
    )


def _schedules_text(session: Session, workspace: Workspace) -> str:
    from bot.core.models import Team

    schedules = session.scalars(
        select(PulseSchedule).where(PulseSchedule.workspace_id == workspace.id, PulseSchedule.active.is_(True))
    ).all()
    if not schedules:
        return "No pulse schedule is set up yet. Set one with `/pulse settings` or from my Home tab."
    lines = []
    for schedule in schedules:
        team = session.get(Team, schedule.team_id) if schedule.team_id else None
        lines.append("• " + escape(describe(schedule, team.name if team else None)))
    return "*Pulse schedules*\n" + "\n".join(lines)


# -- answering ---------------------------------------------------------------------------------


def handle_answer(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    raw = (
        action.get("selected_option", {}).get("value") if action.get("type") == "static_select" else action.get("value")
    )
    _record_and_update(body, raw or "", client, context, respond, skip=False)


def handle_skip(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    _record_and_update(body, action.get("value") or "", client, context, respond, skip=True)


def _record_and_update(
    body: dict[str, Any], raw: str, client: WebClient, context: dict[str, Any], respond: Respond, *, skip: bool
) -> None:
    empathy = empathy_context(context)
    click = Click(SKIP_ACTION if skip else ANSWER_ACTION, raw)
    try:
        # One person's clicks are applied and shown one after the other, so the message never shows an
        # older state than the database. The update runs after the commit: no row lock (or SQLite's
        # write lock) is held while Slack answers.
        with _one_click_at_a_time(body["user"]["id"]):
            with empathy.session_factory.begin() as session:
                team_id, user_id = request_ids(context)
                # Who clicked, read with the round they clicked in: one round trip, not two.
                found = (
                    answering.who_clicked(session, Platform.SLACK.value, team_id, user_id, click) if user_id else None
                )
                workspace, clicker = (found.workspace, found.person) if found else request_identity(session, context)
                _refuse_someone_elses_message(body, clicker)
                answered = answering.answer(
                    session, workspace, clicker, click, box=empathy.box, now=empathy.clock.now(), clicker=found
                )
            _update_message(client, body, answered.message)
    except PulseError as error:
        respond(text=escape(error_text(error)), response_type="ephemeral", replace_original=False)


_CLICK_LOCKS = [threading.Lock() for _ in range(64)]


@contextmanager
def _one_click_at_a_time(slack_user_id: str) -> Iterator[None]:
    """A lock per person (striped): a process's work threads may otherwise apply two of their clicks at once."""
    with _CLICK_LOCKS[zlib.crc32(slack_user_id.encode()) % len(_CLICK_LOCKS)]:
        yield


def _refuse_someone_elses_message(body: dict[str, Any], clicker: Person | None) -> None:
    """A click arrives from the message it was made on: a pulse DM belongs to one person, so a click on
    it by anyone else (a forwarded or replayed payload) must not answer, nor re-render their message."""
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    account = clicker.account(Platform.SLACK) if clicker is not None else None
    dm = account.conversation_ref if account else None
    if dm and channel and channel != dm:
        raise PulseError(
            "That pulse message was sent to someone else, so your click didn't count. Your own pulse is in "
            "our DMs; `/pulse` shows it."
        )


def _update_message(client: WebClient, body: dict[str, Any], message: Message) -> None:
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if not channel or not ts:
        return
    try:
        client.chat_update(channel=channel, ts=ts, **render(message))
    except SlackApiError as error:
        # The answer is saved either way; the message catches up on the next click.
        logger.warning("could not update a pulse message: %s", error.response.get("error"))


def handle_review(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    try:
        round_id = int(action.get("value") or "")
    except ValueError:
        round_id = -1
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        questions = answering.review(session, workspace, person, round_id, box=empathy.box, now=empathy.clock.now())
    if questions is None:
        respond(
            text="That pulse has closed, so answers can't be changed any more. Thank you for taking part!",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    container = body.get("container") or {}
    client.chat_update(channel=container["channel_id"], ts=container["message_ts"], **render(questions))


# -- comments ----------------------------------------------------------------------------------


def handle_comment_button(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    parsed = parse_action_value(action.get("value") or "")
    with empathy.session_factory() as session:
        workspace, person = request_identity(session, context)
        question = workspace_bank(session, workspace.id).question(parsed[1]) if parsed else None
        found = open_progress_for(session, empathy.box, person, empathy.clock.now())
        company = answering.company_of(workspace)
    if parsed is None or question is None:
        respond(text=error_text(RoundNotFound()), response_type="ephemeral", replace_original=False)
        return
    if found is None or found.round.id != parsed[0]:
        respond(
            text="That pulse has closed, so comments can't be added any more.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    existing = found.answers.get(question.id)
    container = body.get("container") or {}
    metadata = f"{parsed[0]}|{question.id}|{container.get('channel_id', '')}|{container.get('message_ts', '')}"
    # trigger_id lives for 3 seconds: open the modal straight away.
    client.views_open(
        trigger_id=body["trigger_id"],
        view=comment_modal(
            round_id=parsed[0],
            question=question,
            existing=existing.comment if existing else None,
            metadata=metadata,
            company=company,
        ),
    )


def handle_comment_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    value = (view.get("state", {}).get("values", {}).get("comment", {}).get("comment", {}).get("value")) or ""
    problem = comment_problem(value)
    if problem is not None:
        ack(response_action="errors", errors={"comment": str(problem)})
        return
    ack()
    empathy = empathy_context(context)
    round_part, _, rest = (view.get("private_metadata") or "").partition("|")
    question_id, _, where = rest.partition("|")
    channel, _, ts = where.partition("|")
    user_id = body["user"]["id"]
    submission = Submission(COMMENT_VIEW, {"comment": value}, state=f"{round_part}|{question_id}")
    try:
        with empathy.session_factory.begin() as session:
            workspace, commenter = request_identity(session, context)
            answered = answering.comment(
                session, workspace, commenter, submission, box=empathy.box, now=empathy.clock.now()
            )
        _update_message(client, {"container": {"channel_id": channel, "message_ts": ts}}, answered.message)
    except PulseError as error:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user_id, text=escape(error_text(error)))


def register(app: App) -> None:
    app.action(re.compile(rf"^{re.escape(ANSWER_ACTION)}\.\d+$"))(handle_answer)
    app.action(SELECT_ACTION)(handle_answer)
    app.action(SKIP_ACTION)(handle_skip)
    app.command("/pulse")(handle_pulse_command)
    app.action(REVIEW_ACTION)(handle_review)
    app.action(COMMENT_ACTION)(handle_comment_button)
    app.view(COMMENT_VIEW)(handle_comment_submission)
