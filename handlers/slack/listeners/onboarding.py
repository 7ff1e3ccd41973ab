"""Onboarding journeys (issue #7): `/onboard`, Done buttons, check-ins, the buddy prompt, `team_join`,
and the App Home section (with HR's template editor). Every listener acks first or replies in its ack."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.errors import UserFacingError
from bot.core.models import Person, Workspace
from bot.core.people import HomeRole, find_person, is_hr, sub_organisation
from bot.delivery.inbound import Click
from bot.delivery.ports import DirectoryUser
from bot.onboarding import service as onboarding
from bot.onboarding import steps
from bot.onboarding.checkins import MIN_GROUP
from bot.onboarding.jobs import ProcessReport, advance
from bot.onboarding.models import JourneyState
from bot.onboarding.templates import TemplateError, step_lines
from bot.org.sync import sync_directory
from handlers.slack.context import AppContext, empathy_context, once_per_event
from handlers.slack.directory import to_directory_user
from handlers.slack.listeners.common import (
    context_block,
    ephemeral,
    error_text,
    escape,
    header,
    mrkdwn_section,
    request_identity,
)
from handlers.slack.render.message import mrkdwn
from handlers.slack.render.message import render as block_kit
from handlers.slack.render.onboarding import (
    BUDDY_ACTION,
    BUDDY_BLOCK,
    CHECKIN_ACTION,
    CHECKIN_VIEW,
    DONE_ACTION,
    TEMPLATE_OPEN_ACTION,
    TEMPLATE_VIEW,
    TaskLine,
    checkin_modal,
    task_block,
    template_modal,
)

logger = logging.getLogger(__name__)

HELP = (
    "*`/onboard`* shows your onboarding checklist and any onboarding tasks you have for others.\n"
    "HR and managers can start someone's journey: `/onboard @person [template] [start YYYY-MM-DD]`, "
    "e.g. `/onboard @Noor sales start 2026-12-01`. Without a template, the one for their team is used "
    "(else `default`); without a start date, their start date from the org file (else today)."
)
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
HOME_TASKS = 5


# -- /onboard ----------------------------------------------------------------------------------


def handle_onboard_command(ack: Ack, command: dict[str, Any], context: dict[str, Any]) -> None:
    empathy = empathy_context(context)
    words = (command.get("text") or "").split()
    if words and words[0].lower() == "help":
        ack(**ephemeral(HELP))
        return
    if not words or words[0].lower() == "status":
        with empathy.session_factory() as session:
            workspace, person = request_identity(session, context)
            ack(**_status(session, person, empathy))
        return
    if not MENTION.match(words[0]):
        ack(**ephemeral(f"Onboarding: I didn't understand `{escape(words[0][:40])}`.\n{HELP}"))
        return
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            ack(**ephemeral(_enrol_by_hand(session, workspace, person, words, empathy)))
    except UserFacingError as error:
        # Errors carry names and what was typed as they are; they are escaped where they are shown.
        ack(**ephemeral(escape(error_text(error))))


def _status(session: Session, person: Person | None, empathy: AppContext) -> dict[str, Any]:
    if person is None:
        return ephemeral("I don't have you in the company directory yet, so there's no onboarding for you. Ask HR.")
    now = empathy.clock.now()
    blocks: list[dict[str, Any]] = []
    journey = onboarding.journey_of(session, person)
    if journey is not None and journey.state != JourneyState.STOPPED:
        state = onboarding.progress(session, journey, now)
        blocks.append(mrkdwn_section(f"*Your onboarding* — {_progress_words(state)}"))
    tasks = onboarding.open_tasks_for(session, person, now, limit=20)
    blocks += [task_block(steps.task_line(session, step)) for step in tasks]
    if not blocks:
        return ephemeral(
            "You have no onboarding journey or onboarding tasks right now. "
            "When you're someone's manager or buddy, their tasks for you show up here."
        )
    if not tasks:
        blocks.append(context_block("Nothing on your list right now. Your next steps arrive in our DMs on their day."))
    return ephemeral("Your onboarding checklist", blocks)


def _progress_words(state: onboarding.Progress) -> str:
    return steps.progress_words(state)


def _enrol_by_hand(
    session: Session, workspace: Workspace, actor: Person | None, words: list[str], empathy: AppContext
) -> str:
    match = MENTION.match(words[0])
    assert match is not None
    target = find_person(session, workspace, match.group(1))
    hr = actor is not None and actor.active and is_hr(session, actor, empathy.settings)
    return mrkdwn(steps.enrol_by_hand(session, workspace, actor, target, words[1:], is_hr=hr, now=empathy.clock.now()))


# -- Done buttons ------------------------------------------------------------------------------


def handle_done(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    try:
        with empathy.session_factory.begin() as session:
            _workspace, person = request_identity(session, context)
            hr = person is not None and is_hr(session, person, empathy.settings)
            line = steps.tick(
                session, person, Click(DONE_ACTION, action.get("value") or ""), is_hr=hr, now=empathy.clock.now()
            )
    except UserFacingError as error:
        respond(text=escape(error_text(error)), response_type="ephemeral", replace_original=False)
        return
    _redraw_task(body, line, client, respond, context)


def _redraw_task(
    body: dict[str, Any], line: TaskLine, client: WebClient, respond: Respond, context: dict[str, Any]
) -> None:
    """Show the tick where the button was: in the DM, the ephemeral list, or App Home."""
    container = body.get("container") or {}
    if container.get("type") == "view":
        _republish_home(client, context)
        return
    blocks = (body.get("message") or {}).get("blocks")
    if not blocks:
        respond(text=f"Ticked: {escape(line.text)}", response_type="ephemeral", replace_original=False)
        return
    wanted = f"onboard.step.{line.step_id}"
    blocks = [task_block(line) if b.get("block_id") == wanted else b for b in blocks]
    text = (body.get("message") or {}).get("text") or "Onboarding tasks"
    if container.get("is_ephemeral"):
        respond(text=text, blocks=blocks, replace_original=True)
        return
    try:
        client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text=text, blocks=blocks)
    except (SlackApiError, KeyError) as error:
        logger.warning("could not update an onboarding message: %s", type(error).__name__)


def _republish_home(client: WebClient, context: dict[str, Any]) -> None:
    refresh = empathy_context(context).home.refresh
    if refresh is not None:
        refresh(client, context["user_id"], context)


# -- check-ins ---------------------------------------------------------------------------------


def handle_checkin_button(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    step_raw, _, score_raw = (action.get("value") or "").partition("|")
    try:
        step_id, score = int(step_raw), int(score_raw)
        with empathy.session_factory() as session:
            _workspace, person = request_identity(session, context)
            form = steps.open_checkin(session, person, step_id)
    except ValueError:
        respond(
            text="I can't read that answer; please use the buttons.", response_type="ephemeral", replace_original=False
        )
        return
    except UserFacingError as error:
        respond(text=escape(error_text(error)), response_type="ephemeral", replace_original=False)
        return
    container = body.get("container") or {}
    metadata = f"{step_id}|{container.get('channel_id', '')}|{container.get('message_ts', '')}"
    client.views_open(
        trigger_id=body["trigger_id"],
        view=checkin_modal(
            step_id=step_id,
            question=form.question,
            score=min(max(score, 1), 5),
            manager=form.manager,
            metadata=metadata,
        ),
    )


def handle_checkin_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    empathy = empathy_context(context)
    values = view.get("state", {}).get("values", {})
    score_raw = (values.get("score", {}).get("score", {}).get("selected_option") or {}).get("value", "")
    comment = values.get("comment", {}).get("comment", {}).get("value")
    consent = any(
        o.get("value") == "share" for o in values.get("consent", {}).get("consent", {}).get("selected_options") or []
    )
    step_raw, _, where = (view.get("private_metadata") or "").partition("|")
    channel, _, ts = where.partition("|")
    if not score_raw.isdigit():
        ack(response_action="errors", errors={"score": "Please pick a number from 1 to 5."})
        return
    try:
        with empathy.session_factory.begin() as session:
            _workspace, person = request_identity(session, context)
            if not step_raw.isdigit():
                raise onboarding.OnboardingError("I can't find that check-in any more.")
            answered = steps.answer_checkin(
                session,
                person,
                int(step_raw),
                score=int(score_raw),
                comment=comment,
                consent=consent,
                box=empathy.box,
                now=empathy.clock.now(),
            )
    except UserFacingError as error:
        block = "comment" if "comment" in error_text(error) else "score"
        ack(response_action="errors", errors={block: error_text(error)[:150]})
        return
    ack()
    if channel and ts:
        try:
            client.chat_update(channel=channel, ts=ts, **block_kit(answered))
        except SlackApiError as error:
            logger.warning("could not update a check-in message: %s", error.response.get("error"))


# -- the buddy prompt --------------------------------------------------------------------------


def handle_buddy_pick(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    journey_raw = (action.get("block_id") or "").removeprefix(f"{BUDDY_BLOCK}.")
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            buddy = find_person(session, workspace, action.get("selected_user") or "")
            journey_id = int(journey_raw) if journey_raw.isdigit() else None
            message = block_kit(steps.pick_buddy(session, workspace, person, journey_id, buddy))
    except UserFacingError as error:
        respond(text=escape(error_text(error)), response_type="ephemeral", replace_original=False)
        return
    container = body.get("container") or {}
    if container.get("channel_id") and container.get("message_ts"):
        try:
            client.chat_update(channel=container["channel_id"], ts=container["message_ts"], **message)
        except SlackApiError as error:
            logger.warning("could not update a buddy prompt: %s", error.response.get("error"))


# -- team_join ---------------------------------------------------------------------------------


class _OneUser:
    """A directory of the one person who just joined, so org sync's rules create or update them."""

    def __init__(self, user: DirectoryUser) -> None:
        self.user = user

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        return self.user if self.user.email == email else None

    def list_users(self) -> Iterator[DirectoryUser]:
        yield self.user


def handle_team_join(event: dict[str, Any], context: dict[str, Any]) -> None:
    """Someone joined the workspace: add or update them, and start their journey if they are new.

    A start date from the org file decides (from 14 days ago to 60 days ahead); without one,
    joining the workspace is taken as the start (today in their timezone)."""
    empathy = empathy_context(context)
    user = event.get("user")
    if not isinstance(user, dict) or not user.get("id"):
        return
    joined = to_directory_user(user)
    if joined.is_bot or joined.deleted:
        return
    now = empathy.clock.now()
    with empathy.session_factory.begin() as session:
        workspace, _ = request_identity(session, context)
        sync_directory(session, workspace, _OneUser(joined), now=now)
        person = find_person(session, workspace, joined.user_id)
        if person is None or not person.active or onboarding.journey_of(session, person) is not None:
            return
        today = onboarding.local_today(person, now)
        start = person.start_date or today
        if not -onboarding.ENROL_PAST_DAYS <= (start - today).days <= onboarding.ENROL_AHEAD_DAYS:
            return  # an existing colleague's new account, not a new hire
        try:
            enrolment = onboarding.enrol(session, person, now=now, start=start)
        except UserFacingError:
            return  # no template for them; HR can enrol them by hand
        advance(session, enrolment.journey, now, ProcessReport())


# -- App Home ----------------------------------------------------------------------------------


def home_blocks(
    session: Session, workspace: Workspace, person: Person | None, role: HomeRole, empathy: AppContext
) -> list[dict[str, Any]]:
    """This feature's App Home section for `person` (blocks, possibly none)."""
    if person is None:
        return []
    now = empathy.clock.now()
    blocks: list[dict[str, Any]] = []
    journey = onboarding.journey_of(session, person)
    if journey is not None and journey.state == JourneyState.ACTIVE:
        blocks.append(
            mrkdwn_section(f"*Your onboarding* — {_progress_words(onboarding.progress(session, journey, now))}")
        )
    tasks = onboarding.open_tasks_for(session, person, now, limit=HOME_TASKS)
    if tasks:
        if journey is None or journey.state != JourneyState.ACTIVE:
            blocks.append(mrkdwn_section("*Onboarding tasks for you*"))
        blocks += [task_block(steps.task_line(session, step)) for step in tasks]
    if role in (HomeRole.MANAGER, HomeRole.HR):
        lines = _new_hire_lines(session, sub_organisation(session, person), now)
        if lines:
            blocks.append(mrkdwn_section("*New hires in your team*\n" + "\n".join(lines[:10])))
    if role is HomeRole.HR:
        blocks += _hr_blocks(session, workspace, now)
    if blocks:
        blocks.insert(0, header("Onboarding"))
        blocks.insert(0, {"type": "divider"})
    return blocks


def _new_hire_lines(session: Session, people: list[Person], now: datetime) -> list[str]:
    lines = []
    for journey in onboarding.journeys_for(session, people):
        if journey.state != JourneyState.ACTIVE:
            continue
        state = onboarding.progress(session, journey, now)
        lines.append(f"• {escape(state.person.name)} ({escape(state.template.name)}): {_progress_words(state)}")
    return lines


def _hr_blocks(session: Session, workspace: Workspace, now: datetime) -> list[dict[str, Any]]:
    templates = onboarding.ensure_templates(session, workspace.id, now)
    buttons = [
        {
            "type": "button",
            "action_id": f"{TEMPLATE_OPEN_ACTION}.{index}",
            "value": template.name,
            "text": {"type": "plain_text", "text": f"Edit {template.name}"[:75]},
        }
        for index, template in enumerate(templates[:20])
    ]
    buttons.append(
        {
            "type": "button",
            "action_id": f"{TEMPLATE_OPEN_ACTION}.new",
            "value": "",
            "text": {"type": "plain_text", "text": "Add a template"},
        }
    )
    listed = "\n".join(
        f"• `{escape(t.name)}` v{t.version}: {len(t.steps)} steps, buddy {t.buddy_rule.replace('_', ' ')}"
        + (f" — {escape(t.description)}" if t.description else "")
        for t in templates[:20]
    )
    blocks = [
        mrkdwn_section("*Onboarding templates* (HR)\n" + (listed or "None yet: add one below or import a YAML file.")),
        {"type": "actions", "block_id": "onboard.templates", "elements": buttons[:25]},
    ]
    everyone = _new_hire_lines(session, onboarding.everyone_onboarding(session, workspace.id), now)
    if everyone:
        blocks.append(
            mrkdwn_section("*Checklist progress per new hire* (tasks are not anonymous)\n" + "\n".join(everyone[:15]))
        )
    cohorts = onboarding.cohort_figures(session, workspace.id)
    if cohorts:
        rows = [
            f"• {row.cohort:%b %Y} starters, {escape(row.team)}: "
            + (
                f"{row.average}/5 from {row.people} people"
                if row.average is not None
                else f"fewer than {MIN_GROUP} people, not shown"
            )
            for row in cohorts[:12]
        ]
        blocks.append(mrkdwn_section("*Check-in sentiment by start month and team* (anonymous)\n" + "\n".join(rows)))
    blocks.append(
        context_block(
            f"Check-in figures change only once at least {MIN_GROUP} more people of a start month and team have "
            "answered without sharing, and count people in the team they were in when they answered."
        )
    )
    blocks.append(context_block("`empathy-bot onboarding export` / `import FILE` move templates as YAML."))
    return blocks


def handle_template_open(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Respond
) -> None:
    ack()
    empathy = empathy_context(context)
    name = action.get("value") or ""
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        allowed = person is not None and is_hr(session, person, empathy.settings)
    if not allowed:
        # The button is only drawn for HR; a stale Home of someone who lost the role (or left) lands here.
        _tell_not_hr(client, body, "Only HR admins can change onboarding templates. Your HR team can help.")
        return
    with empathy.session_factory.begin() as session:
        workspace, person = request_identity(session, context)
        templates = {t.name: t for t in onboarding.ensure_templates(session, workspace.id, empathy.clock.now())}
        template = templates.get(name)
        if template is None:
            view = template_modal(
                name="",
                description="",
                buddy_rule="random_from_team",
                steps_text="0 | task | new_hire | ",
                original=None,
            )
        else:
            view = template_modal(
                name=template.name,
                description=template.description,
                buddy_rule=template.buddy_rule,
                steps_text=step_lines(template.steps),
                original=template.name,
            )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _tell_not_hr(client: WebClient, body: dict[str, Any], text: str) -> None:
    """A Home button has no response_url: say it in the person's DM instead of doing nothing."""
    try:
        client.chat_postMessage(channel=body["user"]["id"], text=text)
    except SlackApiError as error:
        logger.warning("could not tell someone why a button did nothing: %s", error.response.get("error"))


def handle_template_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    empathy = empathy_context(context)
    values = view.get("state", {}).get("values", {})

    def text(block: str) -> str:
        return values.get(block, {}).get(block, {}).get("value") or ""

    buddy = (values.get("buddy", {}).get("buddy", {}).get("selected_option") or {}).get("value", "")
    try:
        with empathy.session_factory.begin() as session:
            workspace, person = request_identity(session, context)
            if person is None or not is_hr(session, person, empathy.settings):
                ack(response_action="errors", errors={"name": "Only HR admins can change onboarding templates."})
                return
            onboarding.save_template(
                session,
                workspace.id,
                old_name=view.get("private_metadata") or None,
                name=text("name"),
                description=text("description"),
                buddy_rule=buddy,
                steps_text=text("steps"),
                actor_id=person.id,
                now=empathy.clock.now(),
            )
    except TemplateError as error:
        ack(response_action="errors", errors={"steps": "; ".join(str(p) for p in error.problems[:5])[:300]})
        return
    except UserFacingError as error:
        ack(response_action="errors", errors={"name": error_text(error)[:300]})
        return
    ack()
    _republish_home(client, context)


def register(app: App) -> None:
    app.command("/onboard")(handle_onboard_command)
    app.action(DONE_ACTION)(handle_done)
    app.action(re.compile(rf"^{re.escape(CHECKIN_ACTION)}\.\d$"))(handle_checkin_button)
    app.view(CHECKIN_VIEW)(handle_checkin_submission)
    app.action(BUDDY_ACTION)(handle_buddy_pick)
    app.action(re.compile(rf"^{re.escape(TEMPLATE_OPEN_ACTION)}\.\w+$"))(handle_template_open)
    app.view(TEMPLATE_VIEW)(handle_template_submission)
    app.event("team_join")(once_per_event(handle_team_join))
