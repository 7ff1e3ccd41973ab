"""Recognition shout-outs (issue #6): giving kudos under the fair-play rules, company values,
stats, and the insights managers' digests use.

Plain functions of a session. Recipients arrive as `Person` rows (the handler resolves Slack
mentions); every refusal is a `KudosRefused` whose text says why and what to do instead.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from difflib import get_close_matches
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.core.errors import UserFacingError
from bot.core.message import Block, Command, Divider, Section, Text, outbox_payload
from bot.core.message import text as wording
from bot.core.models import Person, Workspace
from bot.core.people import Member, sub_organisation
from bot.core.settings import Settings
from bot.core.text import clean_typed
from bot.core.workspace_config import ConfigKey, get_setting
from bot.delivery.outbox import enqueue
from bot.features import DigestRun, Feature, Privacy
from bot.kudos import messages
from bot.kudos import models as recognition_models
from bot.kudos.config import (
    CONFIG_KEYS,
    KUDOS_CHANNEL,
    KUDOS_LEADERBOARD,
    KUDOS_PAIR_PER_WEEK,
    KUDOS_PER_DAY,
    KUDOS_REACTION,
    KUDOS_REQUIRE_VALUE,
)
from bot.kudos.models import CompanyValue, Kudos, KudosKind, KudosRecipient, KudosValue
from bot.kudos.values import current as values_of
from bot.kudos.values import tag_for
from surveys.digest import ExtraSection

MESSAGE_LIMIT = 1000
MAX_RECIPIENTS = 10
REACTION_UNDO_WINDOW = timedelta(minutes=1)
QUIET_AFTER = timedelta(days=30)
# An identical /kudos typed twice within this window is one kudos (a double Enter, a retried request).
TYPED_TWICE_WINDOW = timedelta(minutes=10)
# The kudos the hints show as an example, as the words of the command that gives it.
EXAMPLE_KUDOS = "kudos @ana for untangling the release on Friday"


class KudosRefused(UserFacingError):
    """A fair-play rule or bad input: the text is what the giver reads; `field` is what it is about
    ("recipients", "message" or "values"), so a form can show it beside the right input."""

    def __init__(self, message: str | Text, *, field: str = "recipients") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rules:
    per_day: int
    pair_per_week: int
    require_value: bool
    leaderboard: bool
    reaction: str


def rules(session: Session, workspace: Workspace, settings: Settings) -> Rules:
    def setting(key: ConfigKey) -> str:
        return get_setting(session, workspace, key, settings) or ""

    return Rules(
        per_day=int(setting(KUDOS_PER_DAY) or settings.kudos_per_day),
        pair_per_week=int(setting(KUDOS_PAIR_PER_WEEK) or settings.kudos_pair_per_week),
        require_value=setting(KUDOS_REQUIRE_VALUE) == "on",
        leaderboard=setting(KUDOS_LEADERBOARD) == "on",
        reaction=setting(KUDOS_REACTION) or settings.kudos_reaction,
    )


def channel_for(session: Session, workspace: Workspace, settings: Settings) -> str | None:
    return get_setting(session, workspace, KUDOS_CHANNEL, settings)


def first_name(person: Person) -> str:
    return (person.name or person.email or "someone").split(" ")[0]


def _zone(person: Person) -> ZoneInfo:
    try:
        return ZoneInfo(person.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def start_of_local_day(person: Person, now: datetime) -> datetime:
    """Midnight today where `person` is, in UTC: the daily limit resets at their midnight, not ours."""
    zone = _zone(person)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def given_today(session: Session, giver: Person, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count(Kudos.id)).where(
                Kudos.giver_id == giver.id, Kudos.created_at >= start_of_local_day(giver, now)
            )
        )
        or 0
    )


def left_today(session: Session, workspace: Workspace, giver: Person, settings: Settings, now: datetime) -> int:
    return max(0, rules(session, workspace, settings).per_day - given_today(session, giver, now))


def pair_count(session: Session, one: Person, other: Person, since: datetime) -> int:
    """Kudos between two people since `since`, both directions together (what rings are made of)."""
    one_to_other = (Kudos.giver_id == one.id) & (KudosRecipient.person_id == other.id)
    other_to_one = (Kudos.giver_id == other.id) & (KudosRecipient.person_id == one.id)
    return (
        session.scalar(
            select(func.count(Kudos.id))
            .join(KudosRecipient, KudosRecipient.kudos_id == Kudos.id)
            .where(Kudos.created_at >= since, or_(one_to_other, other_to_one))
        )
        or 0
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 or word.endswith("s") else f"{count} {word}s"


def _names(people: list[Person]) -> str:
    names = [first_name(p) for p in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def too_many(count: int) -> str:
    return (
        f"That's {count} people! I can carry kudos to up to {MAX_RECIPIENTS} at once, so each name still means "
        "something. For a whole team, thank the few who made the difference, or say thanks in the team's channel."
    )


def check_recipients(giver: Person, recipients: list[Person]) -> None:
    if not recipients:
        raise KudosRefused(
            wording(
                "Who would you like to thank? Mention them with @ so Slack links their name, for example ",
                Command(EXAMPLE_KUDOS),
                ".",
            )
        )
    if len(recipients) > MAX_RECIPIENTS:
        raise KudosRefused(too_many(len(recipients)))
    if any(r.id == giver.id for r in recipients):
        raise KudosRefused(
            "Kudos are for thanking someone else, so I can't send one to you. If you're proud of something, "
            "bring it to your next 1:1: you deserve to be seen too."
        )
    bots = [r for r in recipients if r.is_bot]
    if bots:
        raise KudosRefused(f"{_names(bots)} is a bot, and bots can't feel appreciated (yet). Please thank a person.")
    gone = [r for r in recipients if not r.active]
    if gone:
        raise KudosRefused(
            f"{_names(gone)} is no longer in the workspace, so they would never see it. "
            "Perhaps thank someone who carried on their work?"
        )


def clean_message(raw: str) -> str:
    message = clean_typed(raw)
    if not message:
        raise KudosRefused(
            wording(
                "Tell them what for: a sentence about what they did makes kudos mean much more. For example ",
                Command(EXAMPLE_KUDOS),
                ".",
            ),
            field="message",
        )
    if len(message) > MESSAGE_LIMIT:
        raise KudosRefused(
            f"That message is {len(message):,} characters; kudos can be up to {MESSAGE_LIMIT:,}. "
            "Could you trim it? The heart of it is usually one or two sentences.",
            field="message",
        )
    return message


def check_tags(tags: list[str], values: list[CompanyValue], *, required: bool) -> tuple[list[str], list[str]]:
    """(known value tags, in order, without repeats; tags that are no value, as typed).

    A tag that is no value never costs a thank-you: people type hashtags out of habit, so it stays in
    the message as plain text (the caller keeps it there) and the giver is told privately
    (`tag_note`). Only `kudos-require-value` refuses, when no known value is tagged."""
    known = {v.tag for v in values}
    wanted: list[str] = []
    unknown: list[str] = []
    for raw in tags:
        tag = tag_for(raw)
        if tag in known:
            if tag not in wanted:
                wanted.append(tag)
        elif raw not in unknown:
            unknown.append(raw)
    if required and values and not wanted:
        hint = _did_you_mean(unknown, values)
        raise KudosRefused(
            f"Please add one of our values, so everyone sees what this was about: {_listed(values)}.{hint}",
            field="values",
        )
    return wanted, unknown


def tag_note(unknown: list[str], values: list[CompanyValue]) -> str:
    """What the giver is told, privately, about hashtags that are no company value; "" if none."""
    if not unknown:
        return ""
    shown = ", ".join(f"`#{raw[:40]}`" for raw in unknown[:5])
    if not values:
        return f"I kept {shown} as plain text in your message: HR hasn't set up company values to tag yet."
    return f"I kept {shown} as plain text: it isn't one of our values.{_did_you_mean(unknown, values)} Our values are {_listed(values)}."


def _listed(values: list[CompanyValue]) -> str:
    return ", ".join(f"`#{v.tag}`" for v in values)


def _did_you_mean(unknown: list[str], values: list[CompanyValue]) -> str:
    for raw in unknown:
        close = get_close_matches(tag_for(raw), [v.tag for v in values], n=1)
        if close:
            return f" Did you mean `#{close[0]}`?"
    return ""


def typed_keys(giver: Person, recipients: list[Person], message: str, tags: list[str], now: datetime) -> list[str]:
    """Submit keys for a typed /kudos: this window's, then the previous window's. A kudos stored under
    either is the same one typed again, so a repeat within the window is caught even across a boundary."""
    who = ",".join(str(r.id) for r in sorted(recipients, key=lambda r: r.id))
    window = int(now.timestamp() // TYPED_TWICE_WINDOW.total_seconds())
    return [
        "typed:" + hashlib.sha256(f"{giver.id}|{who}|{message}|{' '.join(tags)}|{w}".encode()).hexdigest()[:64]
        for w in (window, window - 1)
    ]


@dataclass
class Given:
    kudos: Kudos
    created: bool
    left_today: int
    recipients: list[Person] = field(default_factory=list)


def give(
    session: Session,
    workspace: Workspace,
    giver: Person,
    recipients: list[Person],
    message: str,
    tags: list[str],
    *,
    private: bool,
    submit_key: str,
    settings: Settings,
    now: datetime,
    item: tuple[str, str] | None = None,
    same_as: Sequence[str] = (),
) -> Given:
    """Record a shout-out if every rule allows it. Raises `KudosRefused` (nothing stored) if not.

    A kudos already stored under `submit_key` or any of `same_as` is this one again: it is returned, not repeated."""
    unique = list({r.id: r for r in recipients}.values())
    check_recipients(giver, unique)
    text = clean_message(message)
    current = rules(session, workspace, settings)
    stored_tags, _unknown = check_tags(tags, values_of(session, workspace.id), required=current.require_value)
    lock_parties(session, giver, unique)
    existing = next(
        (found for key in (submit_key, *same_as) if (found := _existing(session, workspace, key)) is not None), None
    )
    if existing is not None:
        return Given(existing, False, max(0, current.per_day - given_today(session, giver, now)), unique)
    _check_limits(session, giver, unique, current, now)
    kudos = Kudos(
        workspace_id=workspace.id,
        giver_id=giver.id,
        kind=KudosKind.SHOUT_OUT.value,
        message=text,
        private=private,
        submit_key=submit_key,
        item_channel=item[0] if item else None,
        item_ts=item[1] if item else None,
        created_at=now,
        recipients=[KudosRecipient(person_id=r.id, position=i) for i, r in enumerate(unique)],
        values=[KudosValue(tag=t, position=i) for i, t in enumerate(stored_tags)],
    )
    session.add(kudos)
    session.flush()
    return Given(kudos, True, max(0, current.per_day - given_today(session, giver, now)), unique)


def lock_parties(session: Session, giver: Person, recipients: Sequence[Person]) -> None:
    """Hold, until this transaction ends, a lock that every other kudos involving the giver or any
    recipient takes too, so the limits checked next still hold when this kudos is stored.

    Counting and then inserting raced otherwise: ten `/kudos` sent at once all counted four, and six
    were stored. The lock is the database's, so it holds across threads, engines and processes.

    PostgreSQL: the people's rows, FOR NO KEY UPDATE, one by one in id order, so two kudos between
    the same pair given both ways at once queue instead of deadlocking. That mode does not block the
    key-share locks foreign-key checks take, so other features can still insert rows about them.

    SQLite has one writer at a time: a write takes the database's write lock until commit, so one
    write is enough whoever is involved. The driver opens the transaction only at the first write
    (reads before it ran on their own), so either this write starts it, and SQLite waits for the lock
    (busy_timeout) instead of failing on a stale read, or an earlier write already holds the lock.
    It rewrites the giver's row unchanged, `updated_at` included, so it records nothing.
    """
    ids = sorted({giver.id, *(r.id for r in recipients)})
    if session.get_bind().dialect.name == "postgresql":
        for person_id in ids:
            session.execute(select(Person.id).where(Person.id == person_id).with_for_update(key_share=True))
        return
    session.execute(
        update(Person)
        .where(Person.id == giver.id)
        .values(active=Person.active, updated_at=Person.updated_at)
        .execution_options(synchronize_session=False)
    )


def _existing(session: Session, workspace: Workspace, submit_key: str) -> Kudos | None:
    return session.scalar(select(Kudos).where(Kudos.workspace_id == workspace.id, Kudos.submit_key == submit_key))


def _check_limits(session: Session, giver: Person, recipients: list[Person], current: Rules, now: datetime) -> None:
    given = given_today(session, giver, now)
    if given >= current.per_day:
        raise KudosRefused(
            f"You've given {_plural(current.per_day, 'kudos')} today, which is the daily limit, so that each one "
            "keeps its weight. You can give more from midnight your time. Thank you for noticing so much good work!"
        )
    week_ago = now - timedelta(days=7)
    for recipient in recipients:
        if pair_count(session, giver, recipient, week_ago) >= current.pair_per_week:
            raise KudosRefused(
                f"You and {first_name(recipient)} have exchanged {_plural(current.pair_per_week, 'kudos')} in the "
                "last 7 days, the most I carry between two people in a week, so recognition spreads around. "
                + (
                    "Try again in a few days, or thank someone else who helped."
                    if len(recipients) == 1
                    else f"Leave {first_name(recipient)} out this time and try again."
                )
                + f" You can give {_plural(current.per_day - given, 'more kudos')} today."
            )


def react(
    session: Session,
    workspace: Workspace,
    giver: Person,
    author: Person,
    *,
    channel: str,
    ts: str,
    settings: Settings,
    now: datetime,
) -> Kudos | None:
    """Light recognition from an emoji reaction, or None when a rule says no (reactions refuse silently:
    an ephemeral reply to an emoji would be noise)."""
    if giver.id == author.id or author.is_bot or not author.active or not giver.active:
        return None
    key = f"reaction:{giver.id}:{channel}:{ts}"
    lock_parties(session, giver, [author])
    if _existing(session, workspace, key) is not None:
        return None
    try:
        _check_limits(session, giver, [author], rules(session, workspace, settings), now)
    except KudosRefused:
        return None
    kudos = Kudos(
        workspace_id=workspace.id,
        giver_id=giver.id,
        kind=KudosKind.REACTION.value,
        message="",
        private=True,
        submit_key=key,
        item_channel=channel,
        item_ts=ts,
        created_at=now,
        recipients=[KudosRecipient(person_id=author.id, position=0)],
    )
    session.add(kudos)
    session.flush()
    return kudos


def announce(
    session: Session,
    workspace: Workspace,
    kudos: Kudos,
    giver: Person,
    recipients: list[Person],
    settings: Settings,
    now: datetime,
) -> str | None:
    """Queue the public post (unless private) and a DM to each recipient. Returns the channel posted to.

    Which messages a kudos sends is the feature's decision, so it is made here for every way of giving
    (typed, the modal, the message shortcut, the demo); the platform only renders them."""
    values = values_of(session, workspace.id)
    channel = None if kudos.private else channel_for(session, workspace, settings)
    if channel:
        enqueue(
            session,
            workspace.id,
            f"kudos:{kudos.id}:post",
            outbox_payload(messages.shout_out(kudos, giver, recipients, values)),
            channel_id=channel,
            now=now,
        )
    for recipient in recipients:
        enqueue(
            session,
            workspace.id,
            f"kudos:{kudos.id}:dm:{recipient.id}",
            outbox_payload(messages.recipient_dm(kudos, giver, recipients, values, channel)),
            person_id=recipient.id,
            now=now,
        )
    return channel


def unreact(session: Session, workspace: Workspace, giver: Person, *, channel: str, ts: str, now: datetime) -> bool:
    """A reaction taken back within a minute was a slip: forget it. Later, the recognition stands."""
    kudos = _existing(session, workspace, f"reaction:{giver.id}:{channel}:{ts}")
    if kudos is None or now - kudos.created_at > REACTION_UNDO_WINDOW:
        return False
    session.delete(kudos)
    session.flush()
    return True


# -- stats, leaderboard, insights -------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    given: int
    received: int
    given_recently: int
    received_recently: int
    values_received: list[tuple[str, int]]


def seen_by_others() -> ColumnElement[bool]:
    """Kudos that may count where people other than the giver and recipients look (digests, the
    leaderboard): shout-outs posted for all to see, and reactions, left in plain sight on a message.
    A private kudos ("only them", `/kudos private`) counts only in the giver's and recipients' own
    stats: counting it anywhere else would tell a manager or the whole workspace who thanked whom."""
    return or_(Kudos.private.is_(False), Kudos.kind == KudosKind.REACTION.value)


def _received(
    person_ids: list[int] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    public_only: bool = False,
) -> Any:
    query = select(Kudos, KudosRecipient.person_id).join(KudosRecipient, KudosRecipient.kudos_id == Kudos.id)
    if person_ids is not None:
        query = query.where(KudosRecipient.person_id.in_(person_ids))
    if public_only:
        query = query.where(seen_by_others())
    if since is not None:
        query = query.where(Kudos.created_at >= since)
    if until is not None:
        query = query.where(Kudos.created_at < until)
    return query


def stats(session: Session, person: Person, now: datetime) -> Stats:
    month_ago = now - QUIET_AFTER
    given = session.scalar(select(func.count(Kudos.id)).where(Kudos.giver_id == person.id)) or 0
    given_recently = (
        session.scalar(select(func.count(Kudos.id)).where(Kudos.giver_id == person.id, Kudos.created_at >= month_ago))
        or 0
    )
    received_rows = session.execute(_received([person.id])).all()
    values = Counter(v.tag for kudos, _ in received_rows for v in kudos.values)
    return Stats(
        given=given,
        received=len(received_rows),
        given_recently=given_recently,
        received_recently=sum(1 for kudos, _ in received_rows if kudos.created_at >= month_ago),
        values_received=values.most_common(),
    )


def leaderboard(
    session: Session, workspace: Workspace, since: datetime, *, limit: int = 10
) -> list[tuple[Person, int]]:
    """Who received most since `since` (public shout-outs and reactions alike; private kudos never), most first."""
    count = func.count(Kudos.id).label("count")
    rows = session.execute(
        select(Person, count)
        .join(KudosRecipient, KudosRecipient.person_id == Person.id)
        .join(Kudos, Kudos.id == KudosRecipient.kudos_id)
        .where(
            Kudos.workspace_id == workspace.id,
            Kudos.created_at >= since,
            Person.active.is_(True),
            seen_by_others(),
        )
        .group_by(Person.id)
        .order_by(count.desc(), Person.name)
        .limit(limit)
    ).all()
    return [(person, n) for person, n in rows]


@dataclass(frozen=True)
class Insights:
    people: int
    given: int
    received: int
    by_value: list[tuple[str, int]]
    recognised: int
    not_recognised_lately: list[Person | Member]

    @property
    def recognised_share(self) -> float:
        return self.recognised / self.people if self.people else 0.0


@dataclass(frozen=True)
class WorkspaceRecognition:
    """A workspace's public kudos over [since, until), and who received any in the 30 days before
    `until`, read once for every manager's digest: three queries per workspace instead of per manager."""

    given_by: dict[int, int]
    received: list[tuple[Kudos, int]]
    recently: set[int]

    @classmethod
    def read(cls, session: Session, workspace_id: int, since: datetime, until: datetime) -> WorkspaceRecognition:
        in_workspace = Kudos.workspace_id == workspace_id
        given_by = session.execute(
            select(Kudos.giver_id, func.count(Kudos.id))
            .where(in_workspace, Kudos.created_at >= since, Kudos.created_at < until, seen_by_others())
            .group_by(Kudos.giver_id)
        ).all()
        received = session.execute(_received(None, since, until, public_only=True).where(in_workspace)).all()
        recently = session.scalars(
            select(KudosRecipient.person_id)
            .join(Kudos, KudosRecipient.kudos_id == Kudos.id)
            .where(in_workspace, seen_by_others(), Kudos.created_at >= until - QUIET_AFTER, Kudos.created_at < until)
        ).all()
        return cls(dict(given_by), [(kudos, person_id) for kudos, person_id in received], set(recently))  # type: ignore[arg-type]


def insights(
    session: Session,
    people: Sequence[Person | Member],
    since: datetime,
    until: datetime,
    *,
    workspace: WorkspaceRecognition | None = None,
) -> Insights:
    """Public recognition in a group over [since, until): kudos its people gave and received, by value,
    the share who received any, and who has received none in the 30 days before `until`.

    Private kudos count nowhere here, not even in "received none": someone thanked only privately is
    listed like anyone not thanked publicly, so the list cannot be read by elimination either.
    `workspace`, when given, is the workspace's recognition over the same window, read once."""
    active = [p for p in people if p.active and not p.is_bot]
    ids = [p.id for p in active]
    if not ids:
        return Insights(0, 0, 0, [], 0, [])
    if workspace is not None:
        wanted = set(ids)
        given = sum(workspace.given_by.get(person_id, 0) for person_id in wanted)
        received_rows = [(kudos, person_id) for kudos, person_id in workspace.received if person_id in wanted]
        recently = workspace.recently & wanted
    else:
        given = (
            session.scalar(
                select(func.count(Kudos.id)).where(
                    Kudos.giver_id.in_(ids), Kudos.created_at >= since, Kudos.created_at < until, seen_by_others()
                )
            )
            or 0
        )
        received_rows = [
            (kudos, person_id) for kudos, person_id in session.execute(_received(ids, since, until, public_only=True))
        ]
        recently = {
            person_id
            for _, person_id in session.execute(_received(ids, until - QUIET_AFTER, until, public_only=True)).all()
        }
    by_value = Counter(v.tag for kudos, _ in received_rows for v in kudos.values)
    return Insights(
        people=len(active),
        given=given,
        received=len(received_rows),
        by_value=by_value.most_common(),
        recognised=len({person_id for _, person_id in received_rows}),
        not_recognised_lately=sorted(
            (p for p in active if p.id not in recently and (p.start_date is None or p.start_date < until.date())),
            key=lambda p: p.name or "",
        ),
    )


def digest_section(
    session: Session, manager: Person, since: datetime, until: datetime, run: DigestRun | None = None
) -> ExtraSection | None:
    """The recognition section of a manager's digest: their whole sub-organisation, this week, public
    kudos only (a week with only private ones has no section, exactly as if they had not been given)."""
    team = run.below(manager) if run is not None else sub_organisation(session, manager)
    if not team:
        return None
    workspace = (
        run.shared(
            ("kudos", since, until), lambda: WorkspaceRecognition.read(session, manager.workspace_id, since, until)
        )
        if run is not None
        else None
    )
    found = insights(session, team, since, until, workspace=workspace)
    if found.received == 0 and found.given == 0:
        return None  # a quiet week, or a team that doesn't use kudos: nothing worth a section
    lines = [
        f"{_plural(found.received, 'public kudos')} received and {found.given} given this week; "
        f"{found.recognised} of {found.people} people were recognised publicly."
    ]
    if found.by_value:
        lines.append("Values: " + ", ".join(f"#{tag} ({n})" for tag, n in found.by_value[:5]) + ".")
    quiet = found.not_recognised_lately
    if quiet:
        shown = ", ".join(p.name or p.email or "someone" for p in quiet[:8])
        more = f" and {len(quiet) - 8} more" if len(quiet) > 8 else ""
        lines.append(
            f"Not publicly recognised in the last 30 days: {shown}{more}. Is there something they did lately that "
            "deserves a thank-you?"
        )
    return ExtraSection("recognition", "Recognition", lines)


# -- privacy -----------------------------------------------------------------------------------------


def _describe(session: Session, kudos: Kudos) -> dict[str, Any]:
    names = {
        p.id: p.name
        for p in session.scalars(select(Person).where(Person.id.in_([r.person_id for r in kudos.recipients])))
    }
    return {
        "date": kudos.created_at.date().isoformat(),
        "kind": kudos.kind,
        "to": [names.get(r.person_id, "") for r in kudos.recipients],
        "message": kudos.message,
        "values": [v.tag for v in kudos.values],
        "private": kudos.private,
    }


def personal_data(session: Session, person: Person) -> dict[str, Any]:
    given = session.scalars(select(Kudos).where(Kudos.giver_id == person.id).order_by(Kudos.created_at)).all()
    received = [kudos for kudos, _ in session.execute(_received([person.id]).order_by(Kudos.created_at)).all()]
    givers = {
        p.id: p.name for p in session.scalars(select(Person).where(Person.id.in_([k.giver_id for k in received])))
    }
    return {
        "kudos_given": [_describe(session, k) for k in given],
        "kudos_received": [
            {
                "date": k.created_at.date().isoformat(),
                "from": givers.get(k.giver_id, ""),
                "message": k.message,
                "values": [v.tag for v in k.values],
            }
            for k in received
        ],
    }


def forget(session: Session, person: Person) -> dict[str, int]:
    """Delete the kudos this person gave and take them off the ones they received (a kudos left with
    nobody to thank goes too)."""
    given = session.execute(delete(Kudos).where(Kudos.giver_id == person.id)).rowcount or 0
    affected = list(session.scalars(select(KudosRecipient.kudos_id).where(KudosRecipient.person_id == person.id)))
    session.execute(delete(KudosRecipient).where(KudosRecipient.person_id == person.id))
    orphaned = [
        kudos_id
        for kudos_id in affected
        if not session.scalar(select(func.count()).where(KudosRecipient.kudos_id == kudos_id))
    ]
    if orphaned:
        session.execute(delete(Kudos).where(Kudos.id.in_(orphaned)))
    session.expire_all()
    return {"given": given, "received": len(affected)}


def expire(session: Session, now: datetime, *, months: int) -> int:
    cutoff = now - timedelta(days=round(months * 30.44))
    return session.execute(delete(Kudos).where(Kudos.created_at < cutoff)).rowcount or 0


def home_message_parts(
    session: Session, _workspace: Workspace, person: Person, _settings: Settings, now: datetime
) -> list[Block]:
    """The person's kudos numbers for their home message (the same numbers as Slack's App Home)."""
    found = stats(session, person, now)
    return [
        Divider(),
        Section(
            wording(
                f"*Kudos*\nIn the last 30 days you gave {found.given_recently} and received "
                f"{found.received_recently}. Thank a colleague with ",
                Command("kudos @someone for …"),
                ".",
            )
        ),
    ]


FEATURE = Feature(
    name="kudos",
    home=home_message_parts,
    models=(recognition_models,),
    digest_section=digest_section,
    privacy=Privacy("kudos", personal_data=personal_data, forget=forget, expire=expire),
    config_keys=CONFIG_KEYS,
)
