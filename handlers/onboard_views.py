"""Block Kit for onboarding journeys: welcome, task lists with Done buttons, check-ins and their modal,
catch-ups, reminders, early warnings, the buddy prompt and the template editor.

Pure functions of plain data, so the job (which queues DMs) and the listeners (which update them)
render the same thing. Every name and text is escaped: templates and comments come from people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.common import context_block, escape, mrkdwn_section

DONE_ACTION = "onboard.done"
CHECKIN_ACTION = "onboard.checkin"  # buttons: onboard.checkin.<score>
CHECKIN_VIEW = "onboard.checkin_view"
BUDDY_ACTION = "onboard.buddy_pick"
BUDDY_BLOCK = "onboard.buddy"  # block id: onboard.buddy.<journey id>
TEMPLATE_OPEN_ACTION = "onboard.template_open"  # value: template name, or "" for a new one
TEMPLATE_VIEW = "onboard.template_view"
TEMPLATE_REMOVE_ACTION = "onboard.template_remove"
MAX_TASKS_SHOWN = 20
SCALE = {1: "1 · Poor", 2: "2", 3: "3 · OK", 4: "4", 5: "5 · Great"}
CONSENT_QUESTION = "May I share this with your manager so they can help?"


@dataclass(frozen=True)
class TaskLine:
    step_id: int
    text: str  # placeholders already filled, not escaped
    due: date
    done: bool


def task_block(task: TaskLine) -> dict[str, Any]:
    if task.done:
        return {
            "type": "section",
            "block_id": f"onboard.step.{task.step_id}",
            "text": {"type": "mrkdwn", "text": f"✅ ~{escape(task.text)}~"[:3000]},
        }
    return {
        "type": "section",
        "block_id": f"onboard.step.{task.step_id}",
        "text": {"type": "mrkdwn", "text": f"☐ {escape(task.text)}  _(by {task.due:%a %d %b})_"[:3000]},
        "accessory": {
            "type": "button",
            "action_id": DONE_ACTION,
            "value": str(task.step_id),
            "text": {"type": "plain_text", "text": "Done"},
        },
    }


def _tasks(tasks: Sequence[TaskLine]) -> list[dict[str, Any]]:
    blocks = [task_block(t) for t in tasks[:MAX_TASKS_SHOWN]]
    if len(tasks) > MAX_TASKS_SHOWN:
        blocks.append(context_block(f"…and {len(tasks) - MAX_TASKS_SHOWN} more: `/onboard` shows the full list."))
    return blocks


def welcome_message(
    *, first_name: str, company: str, manager: str | None, buddy: str | None, tasks: Sequence[TaskLine]
) -> dict[str, Any]:
    name = escape(first_name) or "there"
    people = []
    if manager:
        people.append(f"your manager is *{escape(manager)}*")
    if buddy:
        people.append(f"your onboarding buddy is *{escape(buddy)}*, happy to answer any question, however small")
    intro = f"Welcome to {escape(company)}, {name}! 🎉 We're really glad you're here."
    if people:
        intro += " " + "; ".join(people).capitalize() + "."
    blocks = [mrkdwn_section(intro)]
    if tasks:
        blocks.append(mrkdwn_section("*Your checklist for today* — tick each item with *Done* as you go:"))
        blocks += _tasks(tasks)
    blocks.append(
        context_block(
            "Over the next weeks I'll send a few more tasks and short check-ins here. "
            "`/onboard` shows your checklist any time."
        )
    )
    return {"text": f"Welcome to {escape(company)}, {name}!", "blocks": blocks}


def tasks_message(*, new_hire: str, day: int, tasks: Sequence[TaskLine], for_new_hire: bool) -> dict[str, Any]:
    if for_new_hire:
        heading = f"*Your onboarding tasks for day {day}* — tick each with *Done*:"
        text = f"Your onboarding tasks for day {day}"
    else:
        heading = f"*Onboarding: {escape(new_hire)}, day {day}.* Here's your part — tick it with *Done*:"
        text = f"Your onboarding task for {escape(new_hire)}"
    blocks = [mrkdwn_section(heading), *_tasks(tasks)]
    blocks.append(context_block("`/onboard` shows every open onboarding task of yours."))
    return {"text": text, "blocks": blocks}


def catch_up_message(
    *,
    first_name: str,
    new_hire: str,
    company: str,
    for_new_hire: bool,
    started: date,
    tasks: Sequence[TaskLine],
    skipped_checkins: int,
    manager: str | None = None,
    buddy: str | None = None,
) -> dict[str, Any]:
    """One message instead of a burst: everything whose time passed before the journey got there."""
    if for_new_hire:
        intro = (
            f"Welcome to {escape(company)}, {escape(first_name) or 'there'}! 🎉 You started on {started:%a %d %b}, "
            "before I could say hello, so here is everything from your onboarding so far in one message."
        )
        if manager:
            intro += f" Your manager is *{escape(manager)}*."
        if buddy:
            intro += f" Your onboarding buddy is *{escape(buddy)}*."
        text = f"Catching up on your onboarding at {escape(company)}"
    else:
        intro = (
            f"*Catching up on {escape(new_hire)}'s onboarding* (started {started:%a %d %b}): "
            "these tasks of yours were due already. Tick each with *Done* when it's done."
        )
        text = f"Catching up on {escape(new_hire)}'s onboarding"
    blocks = [mrkdwn_section(intro), *_tasks(tasks)]
    if for_new_hire and skipped_checkins:
        blocks.append(
            context_block(
                f"I skipped {skipped_checkins} earlier check-in{'s' if skipped_checkins != 1 else ''} rather than "
                "ask them all at once; the next one will come on its day."
            )
        )
    return {"text": text, "blocks": blocks}


def reminder_message(*, new_hire: str, task: TaskLine) -> dict[str, Any]:
    blocks = [
        mrkdwn_section(
            f"A gentle reminder for *{escape(new_hire)}*'s onboarding: this was due {task.due:%a %d %b}. "
            "If it's done already, just tick it."
        ),
        task_block(task),
    ]
    return {"text": f"Reminder: an onboarding task for {escape(new_hire)}", "blocks": blocks}


def checkin_message(*, step_id: int, question: str, day: int, manager: str | None) -> dict[str, Any]:
    who = escape(manager) if manager else "your manager"
    buttons = [
        {
            "type": "button",
            "action_id": f"{CHECKIN_ACTION}.{score}",
            "value": f"{step_id}|{score}",
            "text": {"type": "plain_text", "text": label},
        }
        for score, label in SCALE.items()
    ]
    return {
        "text": f"Onboarding check-in: {escape(question)}",
        "blocks": [
            mrkdwn_section(f"*Onboarding check-in, day {day}*\n{escape(question)}\n_1 = not at all, 5 = very much_"),
            {"type": "actions", "block_id": f"onboard.checkin.{step_id}", "elements": buttons},
            context_block(
                f"After you pick a number you can add a comment, and I'll ask: _{CONSENT_QUESTION}_ "
                f"Only if you say yes will {who} (and HR) see your answer, and a 1 or 2 alerts them so they can help. "
                "Otherwise it only counts toward anonymous figures for new hires, shown for groups of 5 or more."
            ),
        ],
    }


def checkin_answered_message(*, question: str, score: int, shared: bool, manager: str | None) -> dict[str, Any]:
    who = escape(manager) if manager else "your manager"
    where = (
        f"You chose to share it with {who}, who will see it in their digest."
        if shared
        else "It counts only toward the anonymous new-hire figures; nobody sees it as yours."
    )
    return {
        "text": "Thanks for your check-in",
        "blocks": [
            mrkdwn_section(f"*Onboarding check-in*\n{escape(question)}\nYou answered *{score}/5*. Thank you! {where}")
        ],
    }


def checkin_modal(*, step_id: int, question: str, score: int, manager: str | None, metadata: str) -> dict[str, Any]:
    who = manager or "your manager"
    option = lambda value: {"text": {"type": "plain_text", "text": SCALE[value]}, "value": str(value)}  # noqa: E731
    return {
        "type": "modal",
        "callback_id": CHECKIN_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Onboarding check-in"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            mrkdwn_section(escape(question)),
            {
                "type": "input",
                "block_id": "score",
                "label": {"type": "plain_text", "text": "Your answer (1–5)"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "score",
                    "options": [option(v) for v in SCALE],
                    "initial_option": option(score),
                },
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "Anything to add? (optional)"},
                "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True, "max_length": 1000},
                "hint": {"type": "plain_text", "text": "Your comment is only kept if you share it below."},
            },
            {
                "type": "input",
                "block_id": "consent",
                "optional": True,
                "label": {"type": "plain_text", "text": CONSENT_QUESTION},
                "element": {
                    "type": "checkboxes",
                    "action_id": "consent",
                    "options": [
                        {
                            "text": {
                                "type": "plain_text",
                                "text": f"Yes, share my answer and comment with {who[:60]} and HR",
                            },
                            "value": "share",
                        }
                    ],
                },
            },
            context_block(
                "If you leave this unticked, nobody sees your answer as yours: it only counts toward anonymous "
                "figures for new hires (groups of 5 or more), and no alert is sent, even for a 1 or 2."
            ),
        ],
    }


def checkin_alert_message(*, new_hire: str, day: int, question: str, score: int, comment: str | None) -> dict[str, Any]:
    lines = [
        f"*{escape(new_hire)}* answered a day-{day} onboarding check-in with *{score}/5* and asked me to share it "
        "with you so you can help.",
        f"> {escape(question)}",
    ]
    if comment:
        lines.append(f"Their comment: “{escape(comment)}”")
    lines.append("A short, kind 1:1 usually helps more than a message. Ask what would make the next week easier.")
    return {
        "text": f"{escape(new_hire)} shared a low onboarding check-in",
        "blocks": [mrkdwn_section("\n".join(lines))],
    }


def overdue_alert_message(*, new_hire: str, tasks: Sequence[TaskLine]) -> dict[str, Any]:
    listed = "\n".join(f"• {escape(t.text)} (due {t.due:%a %d %b})" for t in tasks[:MAX_TASKS_SHOWN])
    return {
        "text": f"{escape(new_hire)}'s onboarding tasks are overdue",
        "blocks": [
            mrkdwn_section(
                f"*{escape(new_hire)}* has onboarding tasks more than 3 days overdue. They agreed in their last "
                f"check-in that you may be told, so you can help:\n{listed}"
            ),
            context_block("Often something is blocking them (an access request, a missing introduction). Ask."),
        ],
    }


def buddy_prompt_message(
    *, journey_id: int, new_hire: str, started: date, picked: str | None = None, reason: str = ""
) -> dict[str, Any]:
    if picked:
        return {
            "text": f"{escape(picked)} is {escape(new_hire)}'s onboarding buddy",
            "blocks": [
                mrkdwn_section(f"Done: *{escape(picked)}* is {escape(new_hire)}'s onboarding buddy. Thank you!")
            ],
        }
    why = reason or "Their onboarding template asks you to pick the buddy."
    return {
        "text": f"Pick an onboarding buddy for {escape(new_hire)}",
        "blocks": [
            mrkdwn_section(
                f"*{escape(new_hire)}* starts on {started:%a %d %b}. {escape(why)} A buddy is a teammate (not you) "
                "who answers the small questions; nobody buddies more than two people at once."
            ),
            {
                "type": "actions",
                "block_id": f"{BUDDY_BLOCK}.{journey_id}",
                "elements": [
                    {
                        "type": "users_select",
                        "action_id": BUDDY_ACTION,
                        "placeholder": {"type": "plain_text", "text": "Pick a buddy"},
                    }
                ],
            },
        ],
    }


def template_modal(
    *, name: str, description: str, buddy_rule: str, steps_text: str, original: str | None, error: str | None = None
) -> dict[str, Any]:
    rules = {"random_from_team": "Random from the team", "manager_picks": "The manager picks", "none": "No buddy"}
    option = lambda value: {"text": {"type": "plain_text", "text": rules[value]}, "value": value}  # noqa: E731
    blocks: list[dict[str, Any]] = []
    if error:
        blocks.append(mrkdwn_section(f"⚠️ {escape(error)}"))
    blocks += [
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Name"},
            "element": {"type": "plain_text_input", "action_id": "name", "initial_value": name, "max_length": 40},
        },
        {
            "type": "input",
            "block_id": "description",
            "optional": True,
            "label": {"type": "plain_text", "text": "Description"},
            "element": {
                "type": "plain_text_input",
                "action_id": "description",
                "initial_value": description,
                "max_length": 300,
            },
        },
        {
            "type": "input",
            "block_id": "buddy",
            "label": {"type": "plain_text", "text": "Buddy"},
            "element": {
                "type": "static_select",
                "action_id": "buddy",
                "options": [option(v) for v in rules],
                "initial_option": option(buddy_rule if buddy_rule in rules else "none"),
            },
        },
        {
            "type": "input",
            "block_id": "steps",
            "label": {"type": "plain_text", "text": "Steps, one per line: day | kind | owner | text"},
            "element": {
                "type": "plain_text_input",
                "action_id": "steps",
                "multiline": True,
                "initial_value": steps_text[:3000],
                "max_length": 3000,
            },
            "hint": {
                "type": "plain_text",
                "text": "kind: task or checkin. owner: new_hire, manager, buddy or hr (leave empty for a checkin). "
                "Reorder, add or delete lines to change steps. Placeholders: {new_hire} {manager} {buddy}.",
            },
        },
        context_block("Saving creates a new version: journeys already running keep the version they started with."),
    ]
    return {
        "type": "modal",
        "callback_id": TEMPLATE_VIEW,
        "private_metadata": original or "",
        "title": {"type": "plain_text", "text": "Onboarding template"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
