"""A person answering their pulse in chat: what a click on an answer, a skip or "review" does, on any
platform.

The adapter hands over the neutral `Click` (the action id and value the pulse message gave the button)
and who clicked; this records the answer, calls off the pending reminder, and says how the pulse
message should now read (the next questions, or the thank-you once everything is answered). The
adapter renders that in place of the message that was clicked: Slack with `chat.update`, Teams in the
invoke's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.crypto import SecretBox
from bot.core.message import Message
from bot.core.models import Person, Workspace
from bot.delivery.inbound import Click, Submission
from surveys.bank import QuestionBank
from surveys.jobs import cancel_pending, reminder_key
from surveys.pack_store import workspace_bank
from surveys.pulse_messages import SKIP_ACTION, parse_action_value, pulse_message, thank_you_message
from surveys.rounds import (
    Clicker,
    Progress,
    RoundNotFound,
    find_clicker,
    open_progress_for,
    record_answer,
    record_comment,
)

DEFAULT_COMPANY = "our company"


@dataclass(frozen=True)
class Answered:
    """The person's progress after the click, and their pulse message as it should now read."""

    progress: Progress
    message: Message


def who_clicked(
    session: Session, platform: str, workspace_external_id: str, external_user_id: str, click: Click
) -> Clicker | None:
    """Who made this click and their place in the round it names, in one query (the participant row
    locked until the transaction ends), for an adapter that would otherwise look the person up first;
    None when the click names no round or they are not found that way (then look them up as usual:
    `answer` says what is wrong). Hand the result to `answer`."""
    parsed = parse_action_value(click.value)
    if parsed is None:
        return None
    return find_clicker(session, platform, workspace_external_id, external_user_id, parsed[0])


def answer(
    session: Session,
    workspace: Workspace,
    person: Person | None,
    click: Click,
    *,
    box: SecretBox,
    now: datetime,
    clicker: Clicker | None = None,
) -> Answered:
    """Record the answer (or the skip) a click on a pulse message carries. Raises `PulseError` with a
    kind, specific text when it cannot count (closed round, someone else's pulse, a forged value).
    `clicker`: what `who_clicked` found in this transaction, if anything."""
    skip = click.action == SKIP_ACTION
    parsed = parse_action_value(click.value)
    if parsed is None or (parsed[2] is None and not skip):
        raise RoundNotFound()
    round_id, question_id, value = parsed
    progress = record_answer(
        session,
        workspace,
        None,  # the workspace's bank, its version read with the round (no query of its own)
        box,
        person=person,
        round_id=round_id,
        question_id=question_id,
        value=None if skip else value,
        now=now,
        known=clicker.participation if clicker is not None and clicker.person is person else None,
    )
    _call_off_reminder(session, workspace, progress)
    return Answered(progress, progress_message(workspace_bank(session, workspace.id), progress, company_of(workspace)))


def comment(
    session: Session, workspace: Workspace, person: Person | None, form: Submission, *, box: SecretBox, now: datetime
) -> Answered:
    """Record the optional comment sent from the comment form, whose state is "round|question" (as the
    pulse message's comment button gave it). Raises `PulseError` like `answer`."""
    round_part, _, question_id = form.state.partition("|")
    text = form.values.get("comment")
    progress = record_comment(
        session,
        workspace,
        box,
        person=person,
        round_id=int(round_part) if round_part.isdigit() else -1,
        question_id=question_id,
        comment=text if isinstance(text, str) else "",
        now=now,
    )
    _call_off_reminder(session, workspace, progress)
    return Answered(progress, progress_message(workspace_bank(session, workspace.id), progress, company_of(workspace)))


def _call_off_reminder(session: Session, workspace: Workspace, progress: Progress) -> None:
    """At the person's first answer or comment, and only then: the reminder job queues reminders only
    for participants who have not responded (`due_reminders`), so after the first response there is
    none left to call off, and the UPDATE would be a wasted round trip on every later click."""
    if progress.first_response:
        cancel_pending(session, workspace.id, reminder_key(progress.round.id, progress.person.id))


def review(
    session: Session, workspace: Workspace, person: Person | None, round_id: int, *, box: SecretBox, now: datetime
) -> Message | None:
    """The questions again, to change an answer: None when that pulse has closed (or is not theirs)."""
    found = open_progress_for(session, box, person, now)
    if found is None or found.round.id != round_id:
        return None
    return questions_message(workspace_bank(session, workspace.id), found, company_of(workspace))


def company_of(workspace: Workspace) -> str:
    return workspace.name or DEFAULT_COMPANY


def progress_message(bank: QuestionBank, progress: Progress, company: str) -> Message:
    if progress.done:
        return thank_you_message(
            first_name=progress.person.first_name,
            round_id=progress.round.id,
            count=len(progress.question_ids),
            closes_at=progress.round.closes_at,
            min_group=progress.round.min_group,
        )
    return questions_message(bank, progress, company)


def questions_message(bank: QuestionBank, progress: Progress, company: str) -> Message:
    questions = [q for q in (bank.question(i) for i in progress.question_ids) if q is not None]
    return pulse_message(
        first_name=progress.person.first_name,
        round_id=progress.round.id,
        questions=questions,
        answers=progress.answers,
        closes_at=progress.round.closes_at,
        min_group=progress.round.min_group,
        company=company,
    )
