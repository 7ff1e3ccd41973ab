"""Onboarding's messages as neutral messages: the welcome, the day's tasks, the catch-up, reminders,
check-ins and what they alert, and the buddy prompt.

Task texts (placeholders already filled), names, the company, check-in questions and comments are
`Literal`s. The action ids are stable: the listeners route on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.message import (
    Actions,
    Block,
    Button,
    Command,
    Literal,
    Message,
    Note,
    PersonPicker,
    Section,
    Text,
    join,
    text,
)

DONE_ACTION = "onboard.done"
CHECKIN_ACTION = "onboard.checkin"  # buttons: onboard.checkin.<score>
BUDDY_ACTION = "onboard.buddy_pick"
BUDDY_BLOCK = "onboard.buddy"  # block id: onboard.buddy.<journey id>
MAX_TASKS_SHOWN = 20
SCALE = {1: "1 · Poor", 2: "2", 3: "3 · OK", 4: "4", 5: "5 · Great"}
CONSENT_QUESTION = "May I share this with your manager so they can help?"


@dataclass(frozen=True)
class TaskLine:
    step_id: int
    text: str  # placeholders already filled, not escaped
    due: date
    done: bool


def task_section(task: TaskLine) -> Section:
    """One task: struck through when done, else with its due date and a Done button."""
    block_id = f"onboard.step.{task.step_id}"
    if task.done:
        return Section(text("✅ ~", Literal(task.text), "~"), block_id=block_id)
    return Section(
        text("☐ ", Literal(task.text), f"  _(by {task.due:%a %d %b})_"),
        block_id=block_id,
        button=Button("Done", DONE_ACTION, str(task.step_id), shortcodes=False),
    )


def _tasks(tasks: Sequence[TaskLine]) -> list[Block]:
    blocks: list[Block] = [task_section(t) for t in tasks[:MAX_TASKS_SHOWN]]
    if len(tasks) > MAX_TASKS_SHOWN:
        more = len(tasks) - MAX_TASKS_SHOWN
        blocks.append(Note(text(f"…and {more} more: ", Command("onboard"), " shows the full list.")))
    return blocks


def _name(first_name: str, otherwise: str) -> Literal | str:
    return Literal(first_name) if first_name else otherwise


def welcome_message(
    *, first_name: str, company: str, manager: str | None, buddy: str | None, tasks: Sequence[TaskLine]
) -> Message:
    name = _name(first_name, "there")
    # Only the sentence's first letter is raised; names keep their case (the line used to be
    # sentence-cased as a whole, which wrote "your manager is *marcus oyelaran*").
    people: list[Text] = []
    if manager:
        people.append(text("your manager is *", Literal(manager), "*"))
    if buddy:
        people.append(
            text(
                "your onboarding buddy is *",
                Literal(buddy),
                "*, happy to answer any question, however small",
            )
        )
    intro = text("Welcome to ", Literal(company), ", ", name, "! 🎉 We're really glad you're here.")
    if people:
        sentence = join(people, "; ")
        first = str(sentence.parts[0])  # always our own "your …"
        intro = text(intro, " ", first[:1].upper() + first[1:], *sentence.parts[1:], ".")
    blocks: list[Block] = [Section(intro)]
    if tasks:
        blocks.append(Section(text("*Your checklist for today* — tick each item with *Done* as you go:")))
        blocks += _tasks(tasks)
    blocks.append(
        Note(
            text(
                "Over the next weeks I'll send a few more tasks and short check-ins here. ",
                Command("onboard"),
                " shows your checklist any time.",
            )
        )
    )
    return Message(text("Welcome to ", Literal(company), ", ", name, "!"), tuple(blocks))


def tasks_message(*, new_hire: str, day: int, tasks: Sequence[TaskLine], for_new_hire: bool) -> Message:
    if for_new_hire:
        heading = text(f"*Your onboarding tasks for day {day}* — tick each with *Done*:")
        summary = text(f"Your onboarding tasks for day {day}")
    else:
        heading = text("*Onboarding: ", Literal(new_hire), f", day {day}.* Here's your part — tick it with *Done*:")
        summary = text("Your onboarding task for ", Literal(new_hire))
    blocks: list[Block] = [Section(heading), *_tasks(tasks)]
    blocks.append(Note(text(Command("onboard"), " shows every open onboarding task of yours.")))
    return Message(summary, tuple(blocks))


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
) -> Message:
    """One message instead of a burst: everything whose time passed before the journey got there."""
    if for_new_hire:
        intro = text(
            "Welcome to ",
            Literal(company),
            ", ",
            _name(first_name, "there"),
            f"! 🎉 You started on {started:%a %d %b}, "
            "before I could say hello, so here is everything from your onboarding so far in one message.",
        )
        if manager:
            intro = text(intro, " Your manager is *", Literal(manager), "*.")
        if buddy:
            intro = text(intro, " Your onboarding buddy is *", Literal(buddy), "*.")
        summary = text("Catching up on your onboarding at ", Literal(company))
    else:
        intro = text(
            "*Catching up on ",
            Literal(new_hire),
            f"'s onboarding* (started {started:%a %d %b}): "
            "these tasks of yours were due already. Tick each with *Done* when it's done.",
        )
        summary = text("Catching up on ", Literal(new_hire), "'s onboarding")
    blocks: list[Block] = [Section(intro), *_tasks(tasks)]
    if for_new_hire and skipped_checkins:
        blocks.append(
            Note(
                text(
                    f"I skipped {skipped_checkins} earlier check-in{'s' if skipped_checkins != 1 else ''} rather "
                    "than ask them all at once; the next one will come on its day."
                )
            )
        )
    return Message(summary, tuple(blocks))


def reminder_message(*, new_hire: str, task: TaskLine) -> Message:
    return Message(
        text("Reminder: an onboarding task for ", Literal(new_hire)),
        (
            Section(
                text(
                    "A gentle reminder for *",
                    Literal(new_hire),
                    f"*'s onboarding: this was due {task.due:%a %d %b}. If it's done already, just tick it.",
                )
            ),
            task_section(task),
        ),
    )


def _manager(manager: str | None) -> Literal | str:
    return Literal(manager) if manager else "your manager"


def checkin_message(*, step_id: int, question: str, day: int, manager: str | None) -> Message:
    buttons = tuple(
        Button(label, f"{CHECKIN_ACTION}.{score}", f"{step_id}|{score}", shortcodes=False, dialog=True)
        for score, label in SCALE.items()
    )
    return Message(
        text("Onboarding check-in: ", Literal(question)),
        (
            Section(
                text(f"*Onboarding check-in, day {day}*\n", Literal(question), "\n_1 = not at all, 5 = very much_")
            ),
            Actions(buttons, block_id=f"onboard.checkin.{step_id}"),
            Note(
                text(
                    f"After you pick a number you can add a comment, and I'll ask: _{CONSENT_QUESTION}_ "
                    "Only if you say yes will ",
                    _manager(manager),
                    " (and HR) see your answer, and a 1 or 2 alerts them so they can help. "
                    "Otherwise it only counts toward anonymous figures for new hires, shown for groups of 5 or more.",
                )
            ),
        ),
    )


def checkin_answered_message(*, question: str, score: int, shared: bool, manager: str | None) -> Message:
    where = (
        text("You chose to share it with ", _manager(manager), ", who will see it in their digest.")
        if shared
        else text("It counts only toward the anonymous new-hire figures; nobody sees it as yours.")
    )
    return Message(
        text("Thanks for your check-in"),
        (
            Section(
                text("*Onboarding check-in*\n", Literal(question), f"\nYou answered *{score}/5*. Thank you! ", where)
            ),
        ),
    )


def checkin_alert_message(*, new_hire: str, day: int, question: str, score: int, comment: str | None) -> Message:
    lines = [
        text(
            "*",
            Literal(new_hire),
            f"* answered a day-{day} onboarding check-in with *{score}/5* and asked me to share it "
            "with you so you can help.",
        ),
        text("> ", Literal(question)),
    ]
    if comment:
        lines.append(text("Their comment: “", Literal(comment), "”"))
    lines.append(text("A short, kind 1:1 usually helps more than a message. Ask what would make the next week easier."))
    return Message(text(Literal(new_hire), " shared a low onboarding check-in"), (Section(join(lines, "\n")),))


def overdue_alert_message(*, new_hire: str, tasks: Sequence[TaskLine]) -> Message:
    listed = join(
        (text("• ", Literal(t.text), f" (due {t.due:%a %d %b})") for t in tasks[:MAX_TASKS_SHOWN]),
        "\n",
    )
    return Message(
        text(Literal(new_hire), "'s onboarding tasks are overdue"),
        (
            Section(
                text(
                    "*",
                    Literal(new_hire),
                    "* has onboarding tasks more than 3 days overdue. They agreed in their last "
                    "check-in that you may be told, so you can help:\n",
                    listed,
                )
            ),
            Note(text("Often something is blocking them (an access request, a missing introduction). Ask.")),
        ),
    )


def buddy_prompt_message(
    *, journey_id: int, new_hire: str, started: date, picked: str | None = None, reason: str = ""
) -> Message:
    if picked:
        return Message(
            text(Literal(picked), " is ", Literal(new_hire), "'s onboarding buddy"),
            (Section(text("Done: *", Literal(picked), "* is ", Literal(new_hire), "'s onboarding buddy. Thank you!")),),
        )
    why = reason or "Their onboarding template asks you to pick the buddy."
    return Message(
        text("Pick an onboarding buddy for ", Literal(new_hire)),
        (
            Section(
                text(
                    "*",
                    Literal(new_hire),
                    f"* starts on {started:%a %d %b}. ",
                    Literal(why),
                    " A buddy is a teammate (not you) who answers the small questions; nobody buddies more than "
                    "two people at once.",
                )
            ),
            Actions((PersonPicker(BUDDY_ACTION, "Pick a buddy"),), block_id=f"{BUDDY_BLOCK}.{journey_id}"),
        ),
    )
