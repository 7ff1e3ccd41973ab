"""The anonymous suggestion box (issue #5): submit, reference codes, rate limit, status, replies,
relays with a random delay, SLA nudges, "you said, we did", deletion and the privacy hooks.

How the author stays anonymous
------------------------------
- A suggestion row has no author id and no time, only the submission *date*. To reach the author,
  it keeps `reply_handle`: the author's person id sealed with `SecretBox.seal_untimed`
  (EMPATHY_SECRET_KEY, which lives in the environment; AES-GCM with a random nonce and, unlike
  Fernet, no creation time in clear). Two handles of the same person look unrelated; finding
  someone's suggestions means decrypting every handle, which only the running bot (or whoever holds
  the key) can do. Older Fernet handles are re-sealed by the migration or by `tend`.
- Double submits are caught by `submit_key`, an HMAC of the modal's view id: unique per form,
  meaningless about the person.
- The rate limit is one sealed {person: count} value per workspace and day (`SuggestionTally`),
  rewritten whole, to the same size, at every submission while its row is locked: the commit that
  stores a suggestion changes the same row whoever sent it, so replaying the log or diffing backups
  cannot group suggestions by person. The lock also makes the limit exact under concurrent requests.
- New suggestions and author replies reach the owners through the outbox with a random delay,
  so "who was online at 14:03" says nothing. Owners only ever see dates.
- Owners are told the same thing whether or not the author can still be reached: owners who know
  who left would otherwise learn who wrote a suggestion.
- Messages *to* the author are sealed outbox rows (`bot.delivery.outbox.enqueue_sealed`): no person, no
  channel, no reference and no text in clear, keys that are HMACs; `tend` deletes them once
  delivered and then scrubs the database files (`bot.core.storage_scrub`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random, SystemRandom
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, delete, event, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from bot.core.accounts import external_id, with_ids
from bot.core.audit import record
from bot.core.clock import Clock
from bot.core.crypto import UNTIMED_PREFIX, SecretBox, pad, unpad
from bot.core.database import upsert_insert
from bot.core.errors import UserFacingError
from bot.core.message import Block, Command, Divider, Message, Note, Section, outbox_payload
from bot.core.message import text as wording
from bot.core.models import OutboxMessage, OutboxState, Person, Role, RoleGrant, Workspace, WorkspaceSetting
from bot.core.people import is_hr
from bot.core.settings import Settings
from bot.core.storage_scrub import scrub
from bot.core.text import clean_typed, escape
from bot.core.workspace_config import get_setting
from bot.delivery.outbox import UndeliverableError, enqueue, enqueue_sealed, open_target
from bot.delivery.scheduler import Job
from bot.features import Feature, JobDeps, Privacy
from bot.suggestions import messages
from bot.suggestions import models as suggestion_models
from bot.suggestions.config import (
    CONFIG_KEYS,
    SUGGESTION_CATEGORIES,
    SUGGESTION_OWNERS,
    SUGGESTIONS_CHANNEL,
    categories_of,
    owners_of,
)
from bot.suggestions.models import Suggestion, SuggestionMessage, SuggestionStatus, SuggestionTally

logger = logging.getLogger(__name__)

# Slack's plain_text_input allows 3000; 2000 keeps a suggestion readable in one message section
# and leaves room for the header when it is quoted back.
TEXT_LIMIT = 2000
NOTE_LIMIT = 1000
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed back
AUTHOR_KEY_PREFIX = "suggestion-author:"
NUDGE_KEY_PREFIX = "suggestion-nudge:"
CLOSED = frozenset({SuggestionStatus.DONE.value, SuggestionStatus.WONT_DO.value})
ORDER = [s.value for s in SuggestionStatus]
ACK_WORKING_DAYS = 2
TRIAGE_WORKING_DAYS = 7
# The daily tally: (person id, count) entries, room for the workspace's head count rounded up to this
# step, so the sealed size changes with the directory, never with who submitted.
TALLY_ENTRY = struct.Struct(">IH")
TALLY_STEP = 256
# Small tables that `tend` rewrites on PostgreSQL (VACUUM FULL) so that no old version of the tally
# stays in their files; the outbox is large and busy, and its author rows are sealed anyway.
SCRUBBED_TABLES = ("suggestion_tally",)


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


@dataclass(frozen=True)
class Posted:
    message: SuggestionMessage
    created: bool  # False: the same reply form arrived again (a replay, a retry) and this is the first one


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
    text = clean_typed(raw)
    if not text:
        raise SuggestionError(f"Your {what} is empty. Please write a few words and send it again.")
    if len(text) > limit:
        raise SuggestionError(
            f"Your {what} is {len(text)} characters; the limit is {limit}. Please shorten it and send it again."
        )
    return text


def categories(session: Session, workspace: Workspace, settings: Settings) -> list[str]:
    return categories_of(get_setting(session, workspace, SUGGESTION_CATEGORIES, settings))


def channel_for(session: Session, workspace: Workspace, settings: Settings) -> str | None:
    return get_setting(session, workspace, SUGGESTIONS_CHANNEL, settings)


def use_channel(
    session: Session, workspace: Workspace, person: Person | None, channel_id: str, *, settings: Settings, now: datetime
) -> None:
    """Make `channel_id` (the platform's id of the channel the request came from, so already valid) the
    owners' channel: HR only, recorded in the audit log. Slack sets it with `/empathy config`."""
    if person is None or not is_hr(session, person, settings):
        raise NotAllowed(
            "Only HR admins can choose where new suggestions arrive, since everyone in that channel reads them. "
            "Nothing was changed."
        )
    row = session.scalar(
        select(WorkspaceSetting).where(
            WorkspaceSetting.workspace_id == workspace.id, WorkspaceSetting.key == SUGGESTIONS_CHANNEL.name
        )
    )
    if row is None:
        session.add(WorkspaceSetting(workspace_id=workspace.id, key=SUGGESTIONS_CHANNEL.name, value=channel_id))
    else:
        row.value = channel_id
    record(session, workspace.id, person.id, "suggestion.channel", "owners' channel set", at=now)
    session.flush()


def owner_scope(session: Session, workspace: Workspace, person: Person | None, settings: Settings) -> set[str] | None:
    """The categories `person` owns: None for all (HR, or listed without a category), empty for none."""
    if person is None or not person.active:
        return set()
    if is_hr(session, person, settings):
        return None
    scope: set[str] = set()
    for category, user in owners_of(get_setting(session, workspace, SUGGESTION_OWNERS, settings)):
        if user == external_id(person, workspace.platform):
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
    listed = {user for _, user in owners_of(get_setting(session, workspace, SUGGESTION_OWNERS, settings))}
    hr = select(RoleGrant.person_id).where(RoleGrant.workspace_id == workspace.id, RoleGrant.role == Role.HR)
    candidates = session.scalars(
        select(Person)
        .options(selectinload(Person.accounts))
        .where(
            Person.workspace_id == workspace.id,
            Person.active.is_(True),
            Person.is_bot.is_(False),
            or_(
                Person.id.in_(hr),
                with_ids(workspace.platform, listed | set(settings.admin_slack_ids)),
                func.lower(Person.email).in_(set(settings.admin_emails)),
            ),
        )
    ).all()
    return None, [p for p in candidates if p.accounts and is_owner(session, workspace, p, settings, category)]


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
        return int(box.open_untimed(suggestion.reply_handle).decode())
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
    # Sealed: whom it is for and what it says (the reference) would tie the author to the suggestion.
    _blur(enqueue_sealed(session, suggestion.workspace_id, key, payload, person_id=author_id, box=box, due_at=now))
    return True


def _is_author(box: SecretBox, suggestion: Suggestion, person: Person | None) -> bool:
    return person is not None and author_person_id(box, suggestion) == person.id


def owner_message(suggestion: Suggestion) -> Message:
    """The owners' message for a suggestion in its current state (queued once, then updated in place)."""
    return messages.owner_message(
        reference=suggestion.reference,
        category=suggestion.category,
        words=suggestion.text,
        submitted_on=suggestion.submitted_on,
        status=suggestion.status,
        shared_name=suggestion.shared_name,
        note=suggestion.status_note,
    )


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
    existing = _by_submit_key(session, workspace, submit_key)
    if existing is not None:
        return Submitted(existing, created=False)
    # Today's tally, locked until the caller commits: concurrent submissions (threads, processes) take
    # turns here, so the limit is exact. A refusal writes nothing (the row exists, or this is the first).
    tally, counts = _hold_tally(session, workspace, box, _today(now))
    existing = _by_submit_key(session, workspace, submit_key)  # a twin of this form may have committed meanwhile
    if existing is not None:
        return Submitted(existing, created=False)
    used = counts.get(person.id, 0)
    if used >= settings.suggestions_per_day:
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
        "reply_handle": box.seal_untimed(str(person.id).encode()),
        "status": SuggestionStatus.NEW.value,
        "submitted_on": _today(now),
        "messages": 0,
    }
    # An upsert rather than a savepoint (pysqlite's savepoints do not nest in the caller's transaction):
    # the same form submitted twice at the same moment stores one row, and the loser finds it.
    new_id = session.execute(
        upsert_insert(session, Suggestion)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "submit_key"])
        .returning(Suggestion.id)
    ).scalar_one_or_none()
    if new_id is None:
        existing = _by_submit_key(session, workspace, submit_key)
        assert existing is not None
        return Submitted(existing, created=False)
    suggestion = session.get(Suggestion, new_id)
    assert suggestion is not None
    counts[person.id] = used + 1
    tally.sealed = _seal_tally(session, box, workspace.id, tally.day, counts)
    session.flush()
    _to_owners(
        session,
        workspace,
        settings,
        category,
        f"suggestion-relay:{suggestion.id}",
        outbox_payload(owner_message(suggestion)),
        _relay_due(now, settings, rng),
    )
    return Submitted(suggestion, created=True)


def _by_submit_key(session: Session, workspace: Workspace, submit_key: str) -> Suggestion | None:
    return session.scalar(
        select(Suggestion).where(Suggestion.workspace_id == workspace.id, Suggestion.submit_key == submit_key)
    )


def _tally_binding(workspace_id: int, day: date) -> bytes:
    # Sealed together with its workspace and day: a tally copied to another row does not open.
    return f"suggestion-tally:{workspace_id}:{day.isoformat()}".encode()


def _seal_tally(session: Session, box: SecretBox, workspace_id: int, day: date, counts: dict[int, int]) -> bytes:
    """{person id: count} sealed, padded to the workspace's head count (see `SuggestionTally`)."""
    head_count = session.scalar(select(func.count()).select_from(Person).where(Person.workspace_id == workspace_id))
    slots = -(-max(int(head_count or 0), len(counts), 1) // TALLY_STEP) * TALLY_STEP
    entries = b"".join(TALLY_ENTRY.pack(person_id, min(n, 0xFFFF)) for person_id, n in sorted(counts.items()))
    return box.seal_bytes(pad(entries, 4 + slots * TALLY_ENTRY.size), _tally_binding(workspace_id, day))


def _open_tally(box: SecretBox, tally: SuggestionTally) -> dict[int, int]:
    try:
        entries = unpad(box.open_bytes(tally.sealed, _tally_binding(tally.workspace_id, tally.day)))
    except ValueError:
        # Sealed under a previous EMPATHY_SECRET_KEY: today's counts restart from zero.
        logger.warning("today's suggestion tally was sealed with another key; counting from zero")
        return {}
    return {person_id: n for person_id, n in TALLY_ENTRY.iter_unpack(entries)}


def _hold_tally(
    session: Session, workspace: Workspace, box: SecretBox, day: date
) -> tuple[SuggestionTally, dict[int, int]]:
    """Today's tally row, locked for this transaction, and the counts in it.

    The insert comes first: on SQLite it takes the database's write lock (held to the commit), so the
    read below cannot be overtaken; on PostgreSQL it makes sure a row exists for FOR UPDATE to lock.
    """
    session.execute(
        upsert_insert(session, SuggestionTally)
        .values(workspace_id=workspace.id, day=day, sealed=_seal_tally(session, box, workspace.id, day, {}))
        .on_conflict_do_nothing(index_elements=["workspace_id", "day"])
    )
    tally = session.scalars(
        select(SuggestionTally)
        .where(SuggestionTally.workspace_id == workspace.id, SuggestionTally.day == day)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return tally, _open_tally(box, tally)


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
            wording(
                f"I can't find a suggestion `{_said(reference)}` of yours. It may be deleted already; ",
                Command("suggest mine"),
                " lists the ones you can still delete.",
            )
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
    form_id: str | None = None,
) -> Posted:
    """The author answers an owner, still anonymous; relayed to the owners after a random delay.

    The same `form_id` (the modal's view id) twice is one answer, relayed once."""
    body = clean_text(text, what="answer")
    suggestion = find(session, workspace, reference)
    if suggestion is None or not _is_author(box, suggestion, person):
        raise SuggestionError(
            wording(
                f"Suggestion `{_said(reference)}` is no longer there (it may have been deleted), "
                "so I can't pass your answer on. ",
                Command("suggest"),
                " starts a new one.",
            )
        )
    _refuse_closed(suggestion)
    posted = _add_message(session, suggestion, body, owner=None, now=now, submit_key=_message_key(settings, form_id))
    if not posted.created:
        return posted
    message = posted.message
    relayed = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace.id,
            OutboxMessage.idempotency_key == f"suggestion-relay:{suggestion.id}",
            OutboxMessage.sent_ts.is_not(None),
        )
    )
    payload = outbox_payload(
        messages.author_reply_for_owners(suggestion.reference, body, message.sent_on, open_=True),
        # In the suggestion's thread when it is there, so owners read it in context.
        in_thread=relayed.sent_ts if relayed is not None else None,
    )
    _to_owners(
        session,
        workspace,
        settings,
        suggestion.category,
        f"suggestion-relay:{suggestion.id}:{message.number}",
        payload,
        _relay_due(now, settings, rng),
    )
    return posted


def _refuse_closed(suggestion: Suggestion) -> None:
    if suggestion.status in CLOSED:
        raise SuggestionError(
            wording(
                f"Suggestion {suggestion.reference} is closed ({messages.STATUS_LABELS[suggestion.status]}), so "
                "replies are off. ",
                Command("suggest"),
                " starts a new one.",
            )
        )


def _message_key(settings: Settings, form_id: str | None) -> str | None:
    """An HMAC of the reply form's view id: unique per form, says nothing about who filled it in."""
    return _digest(settings.secret_key, "message", form_id) if form_id else None


def _add_message(
    session: Session,
    suggestion: Suggestion,
    text: str,
    *,
    owner: Person | None,
    now: datetime,
    submit_key: str | None,
) -> Posted:
    """Add a message to the thread, once per `submit_key`.

    The number comes from an atomic increment of the suggestion's counter, which also takes the
    suggestion row's write lock until commit (a row lock on PostgreSQL, the database's write lock on
    SQLite). So a replay of the same form that races the first waits for it, then finds its message
    under the key; the unique (suggestion, submit_key) constraint backs this up.
    """
    number = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id)
        .values(messages=Suggestion.messages + 1)
        .returning(Suggestion.messages)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if submit_key is not None:
        existing = session.scalar(
            select(SuggestionMessage).where(
                SuggestionMessage.suggestion_id == suggestion.id, SuggestionMessage.submit_key == submit_key
            )
        )
        if existing is not None:
            # Give the number back: it was taken under our own lock, so nobody else has used it.
            session.execute(
                update(Suggestion)
                .where(Suggestion.id == suggestion.id)
                .values(messages=Suggestion.messages - 1)
                .execution_options(synchronize_session=False)
            )
            session.refresh(suggestion)
            return Posted(existing, created=False)
    session.refresh(suggestion)
    message = SuggestionMessage(
        suggestion_id=suggestion.id,
        number=number,
        from_owner=owner is not None,
        owner_id=owner.id if owner else None,
        text=text,
        sent_on=_today(now),
        submit_key=submit_key,
    )
    session.add(message)
    session.flush()
    return Posted(message, created=True)


# -- the owners' side ----------------------------------------------------------------------------


def _require_owner(
    session: Session, workspace: Workspace, person: Person | None, settings: Settings, suggestion: Suggestion
) -> Person:
    if person is None or not is_owner(session, workspace, person, settings, suggestion.category):
        raise NotAllowed(
            wording(
                "Only the suggestion owners (HR, and the people HR named with ",
                Command("empathy config suggestion-owners"),
                f") can do that for {suggestion.reference}. Nothing was changed.",
            )
        )
    return person


def _refuse_closed_status(suggestion: Suggestion) -> None:
    if suggestion.status in CLOSED:
        raise SuggestionError(
            f"{suggestion.reference} is already closed ({messages.STATUS_LABELS[suggestion.status]}); nothing changed."
        )


def _refuse_backwards(suggestion: Suggestion, status: str) -> None:
    if ORDER.index(status) <= ORDER.index(suggestion.status):
        raise SuggestionError(
            f"{suggestion.reference} is already {messages.STATUS_LABELS[suggestion.status]}; a status only moves forward."
        )


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
    _refuse_closed_status(suggestion)
    _refuse_backwards(suggestion, status)
    text_note = clean_typed(note) or None
    if status == SuggestionStatus.WONT_DO.value and text_note is None:
        raise SuggestionError("Please give a reason for *won't do*: its author deserves to know why.")
    if text_note is not None:
        text_note = clean_text(text_note, limit=NOTE_LIMIT, what="note")
    # The checks above read a snapshot that a concurrent click may already have changed. The UPDATE
    # decides: it applies only while the status is still one this change moves forward from, and two
    # clicks at once (the same change twice, or done against won't do) leave exactly one change.
    earlier = [s for s in ORDER[: ORDER.index(status)] if s not in CLOSED]
    today = _today(now)
    changes: dict[str, Any] = {
        "status": status,
        "acknowledged_on": func.coalesce(Suggestion.acknowledged_on, today),
    }
    if status in CLOSED:
        changes |= {"resolved_on": today, "status_note": text_note}
    changed = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status.in_(earlier))
        .values(**changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(suggestion)
    if changed != 1:
        _refuse_closed_status(suggestion)
        _refuse_backwards(suggestion, status)
        raise SuggestionError(f"{suggestion.reference} changed meanwhile; nothing was changed.")  # not reached
    record(
        session,
        workspace.id,
        actor.id,
        "suggestion.status",
        f"{suggestion.reference} -> {messages.STATUS_LABELS[status]}",
        at=now,
    )
    _to_author(
        session,
        suggestion,
        box,
        settings.secret_key,
        f"status:{status}",
        outbox_payload(messages.status_for_author(suggestion.reference, status, text_note)),
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
    form_id: str | None = None,
) -> Posted:
    """An owner answers; the author gets it by DM if they can still be reached.

    Whether they can is deliberately not returned: owners who know who left the company would learn
    who wrote the suggestion. The same `form_id` (the modal's view id) twice is one reply, sent once."""
    body = clean_text(text, what="reply")
    suggestion = _require(session, workspace, reference)
    actor = _require_owner(session, workspace, owner, settings, suggestion)
    _refuse_closed(suggestion)
    posted = _add_message(session, suggestion, body, owner=actor, now=now, submit_key=_message_key(settings, form_id))
    if not posted.created:
        return posted
    message = posted.message
    _to_author(
        session,
        suggestion,
        box,
        settings.secret_key,
        f"reply:{message.number}",
        outbox_payload(messages.reply_for_author(suggestion.reference, actor.name, body, open_=True)),
        now,
    )
    record(session, workspace.id, actor.id, "suggestion.reply", suggestion.reference, at=now)
    return posted


def record_in_thread(
    session: Session,
    workspace: Workspace,
    owner: Person | None,
    message: SuggestionMessage,
    reference: str,
    *,
    channel: str,
    thread: str | None,
    now: datetime,
) -> None:
    """Show the other owners what was answered, in the suggestion's thread in `channel`.

    The same words whether or not the author can still be reached: owners who know who left (or asked
    to be forgotten) would otherwise learn who wrote the suggestion. Due at the app's clock, not the
    wall clock: the message is due when the reply was made."""
    note = messages.owner_reply_in_thread(reference, owner.name if owner else "An owner", message.text)
    enqueue(
        session,
        workspace.id,
        f"suggestion-thread:{message.suggestion_id}:{message.number}",
        outbox_payload(note, in_thread=thread or None),
        channel_id=channel,
        now=now,
    )


def open_queue(
    session: Session, workspace: Workspace, person: Person | None, settings: Settings, *, limit: int = 20
) -> list[Suggestion]:
    """Open suggestions the person owns, oldest first. Non-owners get `NotAllowed`."""
    scope = owner_scope(session, workspace, person, settings)
    if scope is not None and not scope:
        raise NotAllowed(
            wording(
                "The suggestion queue is only for its owners (HR and the people HR named). ",
                Command("suggest"),
                " shares an idea of your own.",
            )
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
    summary = outbox_payload(messages.summary_message(items, since, today))
    enqueue(session, workspace.id, key, summary, channel_id=channel_id, now=now)
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
    yesterday's tallies, re-seal Fernet reply handles, then (after the commit) scrub the database files."""
    today = _today(now)
    nudged = 0
    waiting = session.scalars(select(Suggestion).where(Suggestion.status.not_in(CLOSED | {"in_progress"}))).all()
    workspaces: dict[int, Workspace] = {}
    # The nudges already queued, read once: a count per waiting suggestion and kind was most of the job's
    # statements once a few dozen suggestions wait.
    queued: dict[int, list[str]] = {}
    if waiting:
        for workspace_id, queued_key in session.execute(
            select(OutboxMessage.workspace_id, OutboxMessage.idempotency_key).where(
                OutboxMessage.idempotency_key.like(NUDGE_KEY_PREFIX + "%")
            )
        ):
            queued.setdefault(workspace_id, []).append(queued_key)
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
            key = f"{NUDGE_KEY_PREFIX}{suggestion.id}:{kind}"
            if any(k.startswith(key) for k in queued.get(workspace.id, ())):
                continue
            _to_owners(
                session,
                workspace,
                settings,
                suggestion.category,
                key,
                outbox_payload(messages.nudge_message(suggestion.reference, suggestion.submitted_on, kind)),
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
        delete(SuggestionTally).where(SuggestionTally.day < today).execution_options(synchronize_session=False)
    ).rowcount
    resealed = reseal_handles(session, SecretBox(settings.secret_key))
    # On PostgreSQL, rewriting `suggestion` drops the dead row versions that still hold the Fernet handles.
    _scrub_after_commit(session, [*SCRUBBED_TABLES, *(["suggestion"] if resealed else [])])
    return {
        "nudges": nudged,
        "author messages scrubbed": int(scrubbed or 0),
        "old counters": int(pruned or 0),
        "handles resealed": resealed,
    }


def reseal_handles(session: Session, box: SecretBox) -> int:
    """Re-seal reply handles that are still Fernet tokens (made before 0014) in the untimed form.

    A Fernet token carries the second it was made, in clear: the time a suggestion was sent. Idempotent;
    a handle sealed with another key stays as it is (nobody can open it, the bot included)."""
    resealed = 0
    old = session.scalars(
        select(Suggestion).where(
            Suggestion.reply_handle.is_not(None), Suggestion.reply_handle.not_like(UNTIMED_PREFIX + "%")
        )
    ).all()
    for suggestion in old:
        try:
            secret = box.open(suggestion.reply_handle or "")
        except ValueError:
            continue
        suggestion.reply_handle = box.seal_untimed(secret)
        resealed += 1
    session.flush()
    return resealed


def _scrub_after_commit(session: Session, tables: list[str]) -> None:
    """Run `storage_scrub.scrub` once this transaction's deletes are committed (before, the log still
    needs the old pages; and PostgreSQL's rewrite waits for transactions older than the commit). A
    failure is logged: the next run tries again."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    assert isinstance(engine, Engine)

    def run(_session: Session) -> None:
        try:
            scrub(engine, tables)
        except Exception:  # the job's work is committed; scrubbing again in 5 minutes is enough
            logger.warning("could not scrub the suggestion tables; the next run will try again", exc_info=True)

    event.listen(session, "after_commit", run, once=True)


# -- privacy hooks -------------------------------------------------------------------------------------


def personal_data(session: Session, person: Person, *, box: SecretBox) -> dict[str, Any]:
    """Only what can be linked to the person by decrypting reply handles: how many, nothing more."""
    workspace = session.get(Workspace, person.workspace_id)
    assert workspace is not None
    mine = authored_by(session, workspace, person, box)
    return {
        "suggestions_you_can_be_replied_to_on": len(mine),
        "note": wording(
            "Your suggestions are stored without your name. Only the bot, with its secret key, can find which "
            "ones can reach you, to pass on replies. ",
            Command("suggest mine"),
            " lists them; you can delete any of them.",
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
    # Messages to them as an author are sealed (no person_id for the privacy module to find): open each.
    messages = 0
    for row in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace.id, OutboxMessage.idempotency_key.like(AUTHOR_KEY_PREFIX + "%")
        )
    ):
        try:
            mine = open_target(row, box).person_id == person.id
        except UndeliverableError:
            mine = False
        if mine:
            session.delete(row)
            messages += 1
    session.flush()
    return {"reply handles": handles, "shared names": names, "messages to you as an author": messages}


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


def _jobs(deps: JobDeps) -> list[Job]:
    def tend_suggestions(session: Session, clock: Clock) -> dict[str, int]:
        return tend(session, deps.settings, clock.now())

    return [
        Job(
            name="suggestions.tend",
            func=tend_suggestions,
            trigger=IntervalTrigger(minutes=5, timezone="UTC"),
            description=(
                "Nudge owners about waiting suggestions; delete delivered DMs to authors and past days' tallies, "
                "re-seal old reply handles, scrub the database files."
            ),
            misfire_grace_time=600,
        )
    ]


def home_message_parts(
    session: Session, workspace: Workspace, person: Person, settings: Settings, _now: datetime
) -> list[Block]:
    """The suggestion box for everyone, the person's own suggestions (only they see this message), and
    the queue's counts for owners."""
    blocks: list[Block] = [
        Divider(),
        Section(
            wording(
                "*Suggestion box*\nShare an idea or a worry anonymously with ",
                Command("suggest"),
                ": your name is not stored with it, and the owners can reply without ever learning who you are.",
            )
        ),
    ]
    mine = authored_by(session, workspace, person, SecretBox(settings.secret_key))
    if mine:
        listed = ", ".join(f"{s.reference} ({messages.STATUS_LABELS[s.status]})" for s in mine[-5:])
        blocks.append(
            Note(wording(f"Yours, visible only to you: {listed}. ", Command("suggest mine"), " lists them all."))
        )
    if is_owner(session, workspace, person, settings):
        tally = counts(session, workspace)
        summary = ", ".join(
            f"{tally.get(s, 0)} {messages.STATUS_LABELS[s]}" for s in ("new", "acknowledged", "in_progress")
        )
        blocks.append(
            Section(
                wording(f"*Suggestions to handle*: {summary}. ", Command("suggest queue"), " lists every open one.")
            )
        )
    return blocks


FEATURE = Feature(
    name="suggestions",
    home=home_message_parts,
    models=(suggestion_models,),
    jobs=_jobs,
    privacy=Privacy("suggestions", personal_data=personal_data, forget=forget, expire=expire),
    config_keys=CONFIG_KEYS,
)
