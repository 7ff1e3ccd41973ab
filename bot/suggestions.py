"""The anonymous suggestion box (issue #5): submit, reference codes, rate limit, status, replies,
relays with a random delay, SLA nudges, "you said, we did", deletion and the privacy hooks.

How the author stays anonymous
------------------------------
- A suggestion row has no author id and no time, only the submission *date*. To reach the author,
  it keeps `reply_handle`: the author's person id sealed with Fernet (EMPATHY_SECRET_KEY, which
  lives in the environment). Fernet tokens are randomised, so two handles of the same person
  look unrelated; finding someone's suggestions means decrypting every handle, which only the
  running bot (or whoever holds the key) can do.
- Double submits are caught by `submit_key`, an HMAC of the modal's view id: unique per form,
  meaningless about the person.
- The rate limit counts per person per day under HMAC(secret, person id + date) in a separate
  table; counters of past days are deleted by the `suggestions.tend` job.
- New suggestions and author replies reach the owners through the outbox with a random delay,
  so "who was online at 14:03" says nothing. Owners only ever see dates.
- Messages *to* the author need a person id in the outbox (that is how the dispatcher finds the
  DM). Their keys are HMACs, not suggestion ids, and `tend` deletes those rows once delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random, SystemRandom
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.audit import record
from bot.crypto import SecretBox
from bot.errors import UserFacingError
from bot.models import OutboxMessage, OutboxState, Person, Role, RoleGrant, Workspace
from bot.outbox import enqueue
from bot.people import is_hr
from bot.settings import Settings
from bot.suggestion_config import categories_of, owners_of
from bot.suggestion_models import Suggestion, SuggestionMessage, SuggestionQuota, SuggestionStatus
from bot.workspace_config import get_setting
from handlers import suggest_views as views
from handlers.common import escape

logger = logging.getLogger(__name__)

# Slack's plain_text_input allows 3000; 2000 keeps a suggestion readable in one message section
# and leaves room for the header when it is quoted back.
TEXT_LIMIT = 2000
NOTE_LIMIT = 1000
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed back
AUTHOR_KEY_PREFIX = "suggestion-author:"
CLOSED = frozenset({SuggestionStatus.DONE.value, SuggestionStatus.WONT_DO.value})
ORDER = [s.value for s in SuggestionStatus]
ACK_WORKING_DAYS = 2
TRIAGE_WORKING_DAYS = 7


class SuggestionError(UserFacingError):
    """Bad input or a refused action; the message says what to do instead."""


class RateLimited(SuggestionError):
    pass


class NotAllowed(SuggestionError):
    pass


class UnknownCategory(SuggestionError):
    pass


@dataclass(frozen=True)
class Submitted:
    suggestion: Suggestion
    created: bool  # False: the same form arrived twice and this is the first one


# -- small helpers -------------------------------------------------------------------------------


def _digest(secret: str, purpose: str, value: str) -> str:
    """A keyed hash: stable for the bot, meaningless to anyone reading the database without the key."""
    return hmac.new(f"{purpose}:{secret}".encode(), value.encode(), hashlib.sha256).hexdigest()


def _said(raw: str, limit: int = 20) -> str:
    """Something a person typed, quoted back in an error: short, and unable to ping anyone."""
    return escape(raw.strip()[:limit])


def _today(now: datetime) -> date:
    return now.date()


def clean_text(raw: str | None, *, limit: int = TEXT_LIMIT, what: str = "suggestion") -> str:
    text = (raw or "").strip()
    if not text:
        raise SuggestionError(f"Your {what} is empty. Please write a few words and send it again.")
    if len(text) > limit:
        raise SuggestionError(
            f"Your {what} is {len(text)} characters; the limit is {limit}. Please shorten it and send it again."
        )
    return text


def categories(session: Session, workspace: Workspace, settings: Settings) -> list[str]:
    return categories_of(get_setting(session, workspace, "suggestion-categories", settings))


def channel_for(session: Session, workspace: Workspace, settings: Settings) -> str | None:
    return get_setting(session, workspace, "suggestions-channel", settings)


def owner_scope(session: Session, workspace: Workspace, person: Person | None, settings: Settings) -> set[str] | None:
    """The categories `person` owns: None for all (HR, or listed without a category), empty for none."""
    if person is None or not person.active:
        return set()
    if is_hr(session, person, settings):
        return None
    scope: set[str] = set()
    for category, user in owners_of(get_setting(session, workspace, "suggestion-owners", settings)):
        if user == person.slack_user_id:
            if category is None:
                return None
            scope.add(category)
    return scope


def is_owner(
    session: Session, workspace: Workspace, person: Person | None, settings: Settings, category: str | None = None
) -> bool:
    scope = owner_scope(session, workspace, person, settings)
    return scope is None or (bool(scope) if category is None else category in scope)


def find(session: Session, workspace: Workspace, reference: str) -> Suggestion | None:
    return session.scalar(
        select(Suggestion).where(
            Suggestion.workspace_id == workspace.id, Suggestion.reference == reference.strip().upper()
        )
    )


def _require(session: Session, workspace: Workspace, reference: str) -> Suggestion:
    found = find(session, workspace, reference)
    if found is None:
        raise SuggestionError(f"I can't find suggestion `{_said(reference)}`. It may have been deleted by its author.")
    return found


def _new_reference(session: Session, workspace_id: int) -> str:
    while True:
        code = "S-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))
        taken = session.scalar(
            select(func.count())
            .select_from(Suggestion)
            .where(Suggestion.workspace_id == workspace_id, Suggestion.reference == code)
        )
        if not taken:
            return code


def _relay_due(now: datetime, settings: Settings, rng: Random | None) -> datetime:
    """A random moment up to twice the configured delay (the average is the delay itself)."""
    minutes = settings.suggestions_relay_delay_minutes
    if minutes == 0:
        return now
    return now + timedelta(seconds=(rng or SystemRandom()).uniform(0, minutes * 120))


def _owners_to_notify(
    session: Session, workspace: Workspace, settings: Settings, category: str
) -> tuple[str | None, list[Person]]:
    """The suggestions channel if one is set; otherwise the owners of `category`, by DM."""
    channel = channel_for(session, workspace, settings)
    if channel:
        return channel, []
    # Only HR and the listed owners can own anything: look at them, not at everyone in the company.
    listed = {user for _, user in owners_of(get_setting(session, workspace, "suggestion-owners", settings))}
    hr = select(RoleGrant.person_id).where(RoleGrant.workspace_id == workspace.id, RoleGrant.role == Role.HR)
    candidates = session.scalars(
        select(Person).where(
            Person.workspace_id == workspace.id,
            Person.active.is_(True),
            Person.is_bot.is_(False),
            or_(
                Person.id.in_(hr),
                Person.slack_user_id.in_(listed | set(settings.admin_slack_ids)),
                func.lower(Person.email).in_(set(settings.admin_emails)),
            ),
        )
    ).all()
    return None, [p for p in candidates if p.slack_user_id and is_owner(session, workspace, p, settings, category)]


def _to_owners(
    session: Session,
    workspace: Workspace,
    settings: Settings,
    category: str,
    key: str,
    payload: dict[str, Any],
    due_at: datetime,
) -> None:
    channel, people = _owners_to_notify(session, workspace, settings, category)
    rows = []
    if channel:
        rows.append(enqueue(session, workspace.id, key, payload, channel_id=channel, due_at=due_at))
    for person in people:
        rows.append(enqueue(session, workspace.id, f"{key}:p{person.id}", payload, person_id=person.id, due_at=due_at))
    for row in rows:
        _blur(row)


def _blur(row: OutboxMessage) -> None:
    """The outbox stamps rows with the time they were queued, which for a suggestion is the moment it
    was sent: keep only the date (the row's age still drives message retention)."""
    row.created_at = datetime.combine(row.due_at.date(), time.min, UTC)


def author_person_id(box: SecretBox, suggestion: Suggestion) -> int | None:
    if not suggestion.reply_handle:
        return None
    try:
        return int(box.open(suggestion.reply_handle).decode())
    except ValueError:
        return None  # sealed under another key: the author can no longer be reached


def _to_author(
    session: Session,
    suggestion: Suggestion,
    box: SecretBox,
    secret: str,
    what: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    author_id = author_person_id(box, suggestion)
    if author_id is None:
        return False
    author = session.get(Person, author_id)
    if author is None or not author.can_be_messaged:
        return False
    key = AUTHOR_KEY_PREFIX + _digest(secret, "author-key", f"{suggestion.id}:{what}")[:48]
    _blur(enqueue(session, suggestion.workspace_id, key, payload, person_id=author_id, due_at=now))
    return True


def _is_author(box: SecretBox, suggestion: Suggestion, person: Person | None) -> bool:
    return person is not None and author_person_id(box, suggestion) == person.id


def _owner_payload(suggestion: Suggestion) -> dict[str, Any]:
    return views.owner_message(
        reference=suggestion.reference,
        category=suggestion.category,
        text=suggestion.text,
        submitted_on=suggestion.submitted_on,
        status=suggestion.status,
        shared_name=suggestion.shared_name,
        note=suggestion.status_note,
    )


def owner_payload(suggestion: Suggestion) -> dict[str, Any]:
    """The owners' message for a suggestion in its current state (for updating it in place)."""
    return _owner_payload(suggestion)


# -- submitting ----------------------------------------------------------------------------------


def submit(
    session: Session,
    workspace: Workspace,
    person: Person,
    *,
    text: str,
    category: str,
    share_name: bool,
    form_id: str,
    box: SecretBox,
    settings: Settings,
    now: datetime,
    rng: Random | None = None,
) -> Submitted:
    """Store a suggestion and queue its relay to the owners. The same `form_id` twice gives one suggestion.

    Raises `SuggestionError` (bad text or category) or `RateLimited` before writing anything.
    """
    body = clean_text(text)
    if category not in categories(session, workspace, settings):
        raise UnknownCategory(
            f"I don't know the category `{_said(category)}`. Please pick one from the list: "
            + ", ".join(categories(session, workspace, settings))
            + "."
        )
    submit_key = _digest(settings.secret_key, "submit", form_id)
    existing = session.scalar(
        select(Suggestion).where(Suggestion.workspace_id == workspace.id, Suggestion.submit_key == submit_key)
    )
    if existing is not None:
        return Submitted(existing, created=False)
    # Checked before anything is written, so a refusal changes nothing even if the caller commits.
    # Two submissions in the same instant may both pass: the limit is against floods, not exact.
    used = session.scalar(
        select(SuggestionQuota.count).where(
            SuggestionQuota.workspace_id == workspace.id,
            SuggestionQuota.bucket == _quota_bucket(settings, person, _today(now)),
        )
    )
    if (used or 0) >= settings.suggestions_per_day:
        raise RateLimited(
            f"You've already sent {settings.suggestions_per_day} suggestions today, which is the daily limit "
            "(it keeps the box readable for the owners). Please keep this one and send it tomorrow. Thank you "
            "for caring this much!"
        )
    values = {
        "workspace_id": workspace.id,
        "reference": _new_reference(session, workspace.id),
        "submit_key": submit_key,
        "category": category,
        "text": body,
        "shared_name": (person.name or None) if share_name else None,
        "reply_handle": box.seal(str(person.id).encode()),
        "status": SuggestionStatus.NEW.value,
        "submitted_on": _today(now),
        "messages": 0,
    }
    # An upsert rather than a savepoint (pysqlite's savepoints do not nest in the caller's transaction):
    # the same form submitted twice at the same moment stores one row, and the loser finds it.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    new_id = session.execute(
        insert(Suggestion)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "submit_key"])
        .returning(Suggestion.id)
    ).scalar_one_or_none()
    if new_id is None:
        existing = session.scalar(
            select(Suggestion).where(Suggestion.workspace_id == workspace.id, Suggestion.submit_key == submit_key)
        )
        assert existing is not None
        return Submitted(existing, created=False)
    suggestion = session.get(Suggestion, new_id)
    assert suggestion is not None
    _count_submission(session, workspace, person, settings, now)
    _to_owners(
        session,
        workspace,
        settings,
        category,
        f"suggestion-relay:{suggestion.id}",
        _owner_payload(suggestion),
        _relay_due(now, settings, rng),
    )
    return Submitted(suggestion, created=True)


def _quota_bucket(settings: Settings, person: Person, on: date) -> str:
    return _digest(settings.secret_key, "quota", f"{person.id}:{on.isoformat()}")


def _count_submission(session: Session, workspace: Workspace, person: Person, settings: Settings, now: datetime) -> int:
    """Add one to today's counter for `person` and return it (an atomic upsert on both databases)."""
    on = _today(now)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(SuggestionQuota).values(
        workspace_id=workspace.id, bucket=_quota_bucket(settings, person, on), day=on, count=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "bucket"], set_={"count": SuggestionQuota.count + 1}
    ).returning(SuggestionQuota.count)
    return int(session.execute(statement).scalar_one())


# -- the author's side ---------------------------------------------------------------------------


def authored_by(session: Session, workspace: Workspace, person: Person, box: SecretBox) -> list[Suggestion]:
    """The suggestions whose reply handle opens to `person` (decrypts every handle: only the bot can)."""
    rows = session.scalars(
        select(Suggestion)
        .where(Suggestion.workspace_id == workspace.id, Suggestion.reply_handle.is_not(None))
        .order_by(Suggestion.submitted_on, Suggestion.id)
    ).all()
    return [s for s in rows if _is_author(box, s, person)]


@dataclass(frozen=True)
class Deleted:
    reference: str
    # Messages already in Slack (channel, ts): the caller replaces them with a "withdrawn" note.
    posted: list[tuple[str, str]]


def delete_by_author(session: Session, workspace: Workspace, person: Person, reference: str, box: SecretBox) -> Deleted:
    """The author takes a suggestion back: the row, its thread and its relays (sent or not) are deleted."""
    suggestion = find(session, workspace, reference)
    if suggestion is None or not _is_author(box, suggestion, person):
        raise SuggestionError(
            f"I can't find a suggestion `{_said(reference)}` of yours. It may be deleted already; "
            "`/suggest mine` lists the ones you can still delete."
        )
    posted = _cancel_relays(session, suggestion)
    ref = suggestion.reference
    session.execute(delete(SuggestionMessage).where(SuggestionMessage.suggestion_id == suggestion.id))
    session.delete(suggestion)
    session.flush()
    return Deleted(ref, posted)


def _cancel_relays(session: Session, suggestion: Suggestion) -> list[tuple[str, str]]:
    """Delete the relays of a suggestion (and the copies of those sent); returns (channel, ts) of the sent ones."""
    prefix = f"suggestion-relay:{suggestion.id}"
    rows = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.workspace_id == suggestion.workspace_id,
            (OutboxMessage.idempotency_key == prefix) | OutboxMessage.idempotency_key.like(prefix + ":%"),
        )
    ).all()
    sent = [(r.sent_channel_id, r.sent_ts) for r in rows if r.sent_channel_id and r.sent_ts]
    for row in rows:
        session.delete(row)
    return sent


def author_reply(
    session: Session,
    workspace: Workspace,
    person: Person,
    reference: str,
    text: str,
    *,
    box: SecretBox,
    settings: Settings,
    now: datetime,
    rng: Random | None = None,
) -> SuggestionMessage:
    """The author answers an owner, still anonymous; relayed to the owners after a random delay."""
    body = clean_text(text, what="answer")
    suggestion = find(session, workspace, reference)
    if suggestion is None or not _is_author(box, suggestion, person):
        raise SuggestionError(
            f"Suggestion `{_said(reference)}` is no longer there (it may have been deleted), "
            "so I can't pass your answer on. `/suggest` starts a new one."
        )
    _refuse_closed(suggestion)
    message = _add_message(session, suggestion, body, owner=None, now=now)
    payload = views.author_reply_for_owners(suggestion.reference, body, message.sent_on, open_=True)
    relayed = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace.id,
            OutboxMessage.idempotency_key == f"suggestion-relay:{suggestion.id}",
            OutboxMessage.sent_ts.is_not(None),
        )
    )
    if relayed is not None:  # in the suggestion's thread, so owners read it in context
        payload["thread_ts"] = relayed.sent_ts
    _to_owners(
        session,
        workspace,
        settings,
        suggestion.category,
        f"suggestion-relay:{suggestion.id}:{message.number}",
        payload,
        _relay_due(now, settings, rng),
    )
    return message


def _refuse_closed(suggestion: Suggestion) -> None:
    if suggestion.status in CLOSED:
        raise SuggestionError(
            f"Suggestion {suggestion.reference} is closed ({views.STATUS_LABELS[suggestion.status]}), so replies "
            "are off. `/suggest` starts a new one."
        )


def _add_message(
    session: Session, suggestion: Suggestion, text: str, *, owner: Person | None, now: datetime
) -> SuggestionMessage:
    suggestion.messages = (suggestion.messages or 0) + 1
    message = SuggestionMessage(
        suggestion_id=suggestion.id,
        number=suggestion.messages,
        from_owner=owner is not None,
        owner_id=owner.id if owner else None,
        text=text,
        sent_on=_today(now),
    )
    session.add(message)
    session.flush()
    return message


# -- the owners' side ----------------------------------------------------------------------------


def _require_owner(
    session: Session, workspace: Workspace, person: Person | None, settings: Settings, suggestion: Suggestion
) -> Person:
    if person is None or not is_owner(session, workspace, person, settings, suggestion.category):
        raise NotAllowed(
            "Only the suggestion owners (HR, and the people HR named with `/empathy config suggestion-owners`) "
            f"can do that for {suggestion.reference}. Nothing was changed."
        )
    return person


def set_status(
    session: Session,
    workspace: Workspace,
    owner: Person | None,
    reference: str,
    status: str,
    *,
    note: str | None = None,
    box: SecretBox,
    settings: Settings,
    now: datetime,
) -> Suggestion:
    """Move a suggestion forward (new → acknowledged → in progress → done / won't do) and tell its author."""
    suggestion = _require(session, workspace, reference)
    actor = _require_owner(session, workspace, owner, settings, suggestion)
    if status not in ORDER or status == SuggestionStatus.NEW.value:
        raise SuggestionError(f"`{_said(status)}` isn't a status I know.")
    if suggestion.status in CLOSED:
        raise SuggestionError(
            f"{suggestion.reference} is already closed ({views.STATUS_LABELS[suggestion.status]}); nothing changed."
        )
    if ORDER.index(status) <= ORDER.index(suggestion.status):
        raise SuggestionError(
            f"{suggestion.reference} is already {views.STATUS_LABELS[suggestion.status]}; a status only moves forward."
        )
    text_note = (note or "").strip() or None
    if status == SuggestionStatus.WONT_DO.value and text_note is None:
        raise SuggestionError("Please give a reason for *won't do*: its author deserves to know why.")
    if text_note is not None:
        text_note = clean_text(text_note, limit=NOTE_LIMIT, what="note")
    suggestion.status = status
    today = _today(now)
    suggestion.acknowledged_on = suggestion.acknowledged_on or today
    if status in CLOSED:
        suggestion.resolved_on = today
        suggestion.status_note = text_note
    record(
        session,
        workspace.id,
        actor.id,
        "suggestion.status",
        f"{suggestion.reference} -> {views.STATUS_LABELS[status]}",
        at=now,
    )
    _to_author(
        session,
        suggestion,
        box,
        settings.secret_key,
        f"status:{status}",
        views.status_for_author(suggestion.reference, status, text_note),
        now,
    )
    session.flush()
    return suggestion


def owner_reply(
    session: Session,
    workspace: Workspace,
    owner: Person | None,
    reference: str,
    text: str,
    *,
    box: SecretBox,
    settings: Settings,
    now: datetime,
) -> tuple[SuggestionMessage, bool]:
    """An owner answers; the author gets it by DM. Returns the message and whether the author is reachable."""
    body = clean_text(text, what="reply")
    suggestion = _require(session, workspace, reference)
    actor = _require_owner(session, workspace, owner, settings, suggestion)
    _refuse_closed(suggestion)
    message = _add_message(session, suggestion, body, owner=actor, now=now)
    reached = _to_author(
        session,
        suggestion,
        box,
        settings.secret_key,
        f"reply:{message.number}",
        views.reply_for_author(suggestion.reference, actor.name, body, open_=True),
        now,
    )
    record(session, workspace.id, actor.id, "suggestion.reply", suggestion.reference, at=now)
    return message, reached


def open_queue(
    session: Session, workspace: Workspace, person: Person | None, settings: Settings, *, limit: int = 20
) -> list[Suggestion]:
    """Open suggestions the person owns, oldest first. Non-owners get `NotAllowed`."""
    scope = owner_scope(session, workspace, person, settings)
    if scope is not None and not scope:
        raise NotAllowed(
            "The suggestion queue is only for its owners (HR and the people HR named). "
            "`/suggest` shares an idea of your own."
        )
    query = select(Suggestion).where(Suggestion.workspace_id == workspace.id, Suggestion.status.not_in(CLOSED))
    if scope is not None:
        query = query.where(Suggestion.category.in_(scope))
    return list(session.scalars(query.order_by(Suggestion.submitted_on, Suggestion.id).limit(limit)))


def counts(session: Session, workspace: Workspace) -> dict[str, int]:
    rows = session.execute(
        select(Suggestion.status, func.count())
        .where(Suggestion.workspace_id == workspace.id)
        .group_by(Suggestion.status)
    ).all()
    return {status: int(n) for status, n in rows}


# -- close the loop --------------------------------------------------------------------------------


def you_said_we_did(
    session: Session, workspace: Workspace, person: Person | None, channel_id: str, *, settings: Settings, now: datetime
) -> int:
    """Post the suggestions marked done since the last summary to `channel_id`; returns how many (0: nothing posted)."""
    if person is None or not is_hr(session, person, settings):
        raise NotAllowed("Only HR admins can post a “you said, we did” summary.")
    done = session.scalars(
        select(Suggestion)
        .where(
            Suggestion.workspace_id == workspace.id,
            Suggestion.status == SuggestionStatus.DONE.value,
            Suggestion.summarised_on.is_(None),
        )
        .order_by(Suggestion.resolved_on, Suggestion.id)
    ).all()
    if not done:
        return 0
    since = session.scalar(select(func.max(Suggestion.summarised_on)).where(Suggestion.workspace_id == workspace.id))
    today = _today(now)
    items = [(s.category, s.text, s.status_note) for s in done]
    key = "suggestion-summary:" + _digest(settings.secret_key, "summary", ",".join(str(s.id) for s in done))[:40]
    enqueue(session, workspace.id, key, views.summary_message(items, since, today), channel_id=channel_id, now=now)
    for suggestion in done:
        suggestion.summarised_on = today
    record(session, workspace.id, person.id, "suggestion.summary", f"{len(done)} to <#{channel_id}>", at=now)
    return len(done)


# -- the tending job ---------------------------------------------------------------------------------


def working_days_between(start: date, end: date) -> int:
    """Monday–Friday days after `start` up to and including `end`."""
    days = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days += 1
    return days


def tend(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """Nudge owners about waiting suggestions (once each), delete delivered messages to authors and
    yesterday's rate-limit counters."""
    today = _today(now)
    nudged = 0
    waiting = session.scalars(select(Suggestion).where(Suggestion.status.not_in(CLOSED | {"in_progress"}))).all()
    workspaces: dict[int, Workspace] = {}
    for suggestion in waiting:
        age = working_days_between(suggestion.submitted_on, today)
        kinds = []
        if suggestion.status == SuggestionStatus.NEW.value and age >= ACK_WORKING_DAYS:
            kinds.append("acknowledge")
        if age >= TRIAGE_WORKING_DAYS:
            kinds.append("triage")
        for kind in kinds:
            workspace = workspaces.get(suggestion.workspace_id) or session.get(Workspace, suggestion.workspace_id)
            assert workspace is not None
            workspaces[workspace.id] = workspace
            key = f"suggestion-nudge:{suggestion.id}:{kind}"
            exists = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.workspace_id == workspace.id, OutboxMessage.idempotency_key.like(key + "%"))
            )
            if exists:
                continue
            _to_owners(
                session,
                workspace,
                settings,
                suggestion.category,
                key,
                views.nudge_message(suggestion.reference, suggestion.submitted_on, kind),
                now,
            )
            nudged += 1
    scrubbed = session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.idempotency_key.like(AUTHOR_KEY_PREFIX + "%"),
            OutboxMessage.state.in_([OutboxState.SENT.value, OutboxState.FAILED.value, OutboxState.CANCELLED.value]),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    pruned = session.execute(
        delete(SuggestionQuota).where(SuggestionQuota.day < today).execution_options(synchronize_session=False)
    ).rowcount
    return {"nudges": nudged, "author messages scrubbed": int(scrubbed or 0), "old counters": int(pruned or 0)}


# -- privacy hooks -------------------------------------------------------------------------------------


def personal_data(session: Session, person: Person, *, box: SecretBox) -> dict[str, Any]:
    """Only what can be linked to the person by decrypting reply handles: how many, nothing more."""
    workspace = session.get(Workspace, person.workspace_id)
    assert workspace is not None
    mine = authored_by(session, workspace, person, box)
    return {
        "suggestions_you_can_be_replied_to_on": len(mine),
        "note": (
            "Your suggestions are stored without your name. Only the bot, with its secret key, can find which "
            "ones can reach you, to pass on replies. `/suggest mine` lists them; you can delete any of them."
        ),
    }


def forget(session: Session, person: Person, *, box: SecretBox) -> dict[str, int]:
    """Cut every link from suggestions to `person`: reply handles and shared names. The texts stay, unlinked."""
    workspace = session.get(Workspace, person.workspace_id)
    assert workspace is not None
    handles = names = 0
    for suggestion in authored_by(session, workspace, person, box):
        suggestion.reply_handle = None
        handles += 1
        if suggestion.shared_name is not None:
            suggestion.shared_name = None
            names += 1
    session.flush()
    return {"reply handles": handles, "shared names": names}


def expire(session: Session, now: datetime, *, months: int) -> int:
    """Delete suggestions (with their threads) submitted more than `months` ago."""
    cutoff = (now - timedelta(days=round(months * 30.44))).date()
    old = select(Suggestion.id).where(Suggestion.submitted_on < cutoff)
    session.execute(
        delete(SuggestionMessage)
        .where(SuggestionMessage.suggestion_id.in_(old))
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        delete(Suggestion).where(Suggestion.submitted_on < cutoff).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def references(suggestions: Iterable[Suggestion]) -> list[str]:
    return [s.reference for s in suggestions]
