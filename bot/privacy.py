"""Privacy rights: what the bot keeps that is linked to a person, a copy of it, and forgetting it.

Pulse answers are not here and cannot be: they carry no person id (see the README's privacy
section), so there is nothing to find, export or delete per person. Each registered feature
(bot/registry.py) contributes its own linked data through the hooks of its `Feature.privacy`:
`personal_data`, `forget` and `expire`; this module asks each of them in turn.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot import registry
from bot.core.accounts import external_id
from bot.core.audit import record
from bot.core.crypto import SecretBox
from bot.core.message import Command, Heading, Literal, Message, Note, Section, Text, join, text
from bot.core.models import AuditEntry, OutboxMessage, OutboxState, Person, PersonAccount, Platform, RoleGrant
from bot.core.settings import Settings
from bot.features import Privacy
from surveys.models import PulseAnswer, PulseParticipant, PulseRound, QuestionExposure

logger = logging.getLogger(__name__)

NOT_LINKED = (
    "Your pulse survey answers and comments are stored without any link to you: no name, no id, no time. "
    "Because of that nobody can find them, not even to show or delete them for you. They only ever appear "
    "in group results of 5 or more people."
)

FORGOTTEN_NAME = "Former colleague"
NOT_KNOWN = (
    "I don't have anything about you: you are not in our directory yet. "
    "Your pulse answers, if you ever gave any, are stored without any link to you."
)
_PROFILE_LABELS = (
    ("name", "name"),
    ("email", "email"),
    ("team", "team"),
    ("manager", "manager"),
    ("start_date", "start date"),
    ("timezone", "time zone"),
)


def privacy_message(data: dict[str, Any], *, can_forget: bool) -> Message:
    """`personal_data` in plain words: what is linked to the person and what is not. `can_forget`: the
    person may ask to be forgotten here themselves (otherwise HR does it)."""
    profile = data["profile"]
    known = join(
        (text(f"{label} ", Literal(str(profile[key]))) for key, label in _PROFILE_LABELS if profile.get(key)), ", "
    )
    lines: list[Text] = [
        text(
            "• *Your profile* (from HR's org file or the directory): ",
            known if known.parts else "only your chat id",
            ".",
        )
    ]
    if data["roles"]:
        lines.append(text(f"• *Your roles here*: {', '.join(data['roles'])}."))
    for pulse in data["open_pulses"]:
        answered = "you have answered" if pulse["answered"] else "you haven't answered yet"
        lines.append(
            text(
                f"• *Open pulse of {pulse['pulse_of']}*: that it was sent to you and that {answered}. "
                "I forget this when the pulse closes."
            )
        )
    if data["questions_recently_asked"]:
        lines.append(
            text(
                f"• *Which pulse questions you were asked lately* ({len(data['questions_recently_asked'])}), "
                "so you don't get the same ones every time."
            )
        )
    if data["messages_waiting_to_be_sent"]:
        lines.append(text(f"• *Messages I'm about to send you*: {data['messages_waiting_to_be_sent']}."))
    for kind in ("suggestions", "kudos", "onboarding"):
        if summary := _summary(data.get(kind)):
            lines.append(text(f"• *{kind.capitalize()}*: {summary}."))
    forget = (
        text(" ", Command("empathy privacy forget"), " makes me forget you, after you confirm.")
        if can_forget
        else text(" To have it all removed, ask your HR team: they can make me forget you.")
    )
    return Message(
        text("What I keep about you"),
        (
            Heading("What I keep about you"),
            Section(text("*Linked to you*\n", join(lines, "\n"))),
            Section(text("*Not linked to you*\n" + NOT_LINKED)),
            Note(text(Command("empathy privacy export"), " sends you all of this here.", forget)),
        ),
    )


def _summary(section: Any) -> str:
    """A feature's data in a few words: how many of each kind (the export has the details)."""
    if not isinstance(section, dict):
        return ""
    parts = []
    for key, value in section.items():
        count = len(value) if isinstance(value, list | dict) else value if isinstance(value, int) else None
        if count:
            parts.append(f"{count} {key.replace('_', ' ')}")
    return ", ".join(parts)


def _features() -> list[Privacy]:
    return [feature.privacy for feature in registry.FEATURES if feature.privacy is not None]


def _call(function: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Pass only the keyword options a feature's hook declares (`box` is only for suggestions)."""
    accepted = inspect.signature(function).parameters
    return function(*args, **{k: v for k, v in options.items() if k in accepted})


def personal_data(session: Session, person: Person, *, box: SecretBox) -> dict[str, Any]:
    """Everything linked to `person`, JSON-serialisable, grouped by kind."""
    open_rounds = session.execute(
        select(PulseRound.round_date, PulseRound.closes_at, PulseParticipant.responded)
        .join(PulseRound, PulseRound.id == PulseParticipant.round_id)
        .where(PulseParticipant.person_id == person.id)
        .order_by(PulseRound.round_date)
    ).all()
    pending = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.person_id == person.id, OutboxMessage.state == OutboxState.PENDING.value)
    )
    data: dict[str, Any] = {
        "profile": {
            "name": person.name,
            "email": person.email,
            "slack_user_id": external_id(person, Platform.SLACK),
            **{
                f"{account.platform}_user_id": account.external_user_id
                for account in person.accounts
                if account.platform != Platform.SLACK
            },
            "team": person.team.name if person.team else None,
            "manager": person.manager.name if person.manager else None,
            "start_date": person.start_date.isoformat() if person.start_date else None,
            "timezone": person.timezone,
            "active": person.active,
            "source": person.source,
        },
        "roles": sorted({grant.role for grant in session.scalars(_grants(person))}),
        "open_pulses": [
            {"pulse_of": day.isoformat(), "closes_at": closes.isoformat(), "answered": responded}
            for day, closes, responded in open_rounds
        ],
        "questions_recently_asked": sorted(
            session.scalars(select(QuestionExposure.question_id).where(QuestionExposure.person_id == person.id))
        ),
        "messages_waiting_to_be_sent": pending or 0,
        "not_linked": NOT_LINKED,
    }
    for hooks in _features():
        if hooks.personal_data is not None:
            data[hooks.retention] = _call(hooks.personal_data, session, person, box=box)
    return data


def _grants(person: Person) -> Any:
    return select(RoleGrant).where(RoleGrant.person_id == person.id)


def forget(
    session: Session, person: Person, *, box: SecretBox, now: datetime, actor_id: int | None, via: str
) -> dict[str, int]:
    """Remove or anonymise everything linked to `person`, in the caller's transaction; counts per kind.

    Aggregates that are not linked (pulse answers, counts) stay. The person row stays too, nameless,
    so that the reporting lines of the people around them still hold.
    """
    done: dict[str, int] = {}
    for hooks in _features():
        if hooks.forget is not None:
            for name, count in _call(hooks.forget, session, person, box=box).items():
                done[f"{hooks.retention}.{name}"] = count
    # Deleting the participant rows drops the answer keys too: answers already given in an open round
    # can no longer be matched to this person, even by someone holding EMPATHY_SECRET_KEY.
    done["open pulse invitations"] = _deleted(
        session, delete(PulseParticipant).where(PulseParticipant.person_id == person.id)
    )
    done["questions recently asked"] = _deleted(
        session, delete(QuestionExposure).where(QuestionExposure.person_id == person.id)
    )
    done["messages waiting to be sent"] = _deleted(
        session,
        delete(OutboxMessage).where(
            OutboxMessage.person_id == person.id, OutboxMessage.state == OutboxState.PENDING.value
        ),
    )
    done["copies of messages sent"] = _deleted(
        session, delete(OutboxMessage).where(OutboxMessage.person_id == person.id)
    )
    done["roles"] = _deleted(session, delete(RoleGrant).where(RoleGrant.person_id == person.id))
    person.name = FORGOTTEN_NAME
    person.email = None
    # Every platform account goes, with the DM conversation it held.
    _deleted(session, delete(PersonAccount).where(PersonAccount.person_id == person.id))
    session.expire(person, ["accounts"])
    person.timezone = None
    person.start_date = None
    person.active = False
    person.deactivated_at = person.deactivated_at or now
    person.forgotten_at = now
    done["profile"] = 1
    record(session, person.workspace_id, actor_id, "privacy.forget", f"person {person.id}", via=via, at=now)
    return done


def _deleted(session: Session, statement: Any) -> int:
    return int(session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0)


def forget_leavers(session: Session, settings: Settings, box: SecretBox, now: datetime) -> int:
    """Forget everyone deactivated longer ago than EMPATHY_FORGET_AFTER_DAYS (the nightly job)."""
    cutoff = now - timedelta(days=settings.forget_after_days)
    leavers = session.scalars(
        select(Person).where(
            Person.active.is_(False),
            Person.forgotten_at.is_(None),
            Person.deactivated_at.is_not(None),
            Person.deactivated_at <= cutoff,
        )
    ).all()
    for person in leavers:
        forget(session, person, box=box, now=now, actor_id=None, via="job")
    if leavers:
        logger.info("forgot %d people deactivated more than %d days ago", len(leavers), settings.forget_after_days)
    return len(leavers)


def _months_ago(now: datetime, months: int) -> datetime:
    return now - timedelta(days=round(months * 30.44))


def expire(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete what is older than its retention period (the nightly job). Logs counts only."""
    done: dict[str, int] = {}
    if months := settings.retention("comments"):
        closed_before = select(PulseRound.id).where(
            PulseRound.closed_at.is_not(None), PulseRound.closed_at < _months_ago(now, months)
        )
        done["comments"] = _deleted(
            session,
            update(PulseAnswer)
            .where(PulseAnswer.round_id.in_(closed_before), PulseAnswer.comment.is_not(None))
            .values(comment=None),
        )
    if months := settings.retention("messages"):
        done["messages"] = _deleted(
            session,
            delete(OutboxMessage).where(
                OutboxMessage.state.in_(
                    [OutboxState.SENT.value, OutboxState.FAILED.value, OutboxState.CANCELLED.value]
                ),
                OutboxMessage.created_at < _months_ago(now, months),
            ),
        )
    if months := settings.retention("audit"):
        done["audit"] = _deleted(session, delete(AuditEntry).where(AuditEntry.at < _months_ago(now, months)))
    for hooks in _features():
        if hooks.expire is not None and (months := settings.retention(hooks.retention)):
            done[hooks.retention] = int(_call(hooks.expire, session, now, months=months))
    logger.info("retention: deleted %s", ", ".join(f"{kind} {count}" for kind, count in sorted(done.items())))
    return done
