"""The identity side of the schema: workspaces, people, teams, roles, and the durable outbox.

Survey answers and suggestions (later issues) live in tables that never reference `person`;
anything here may name a person because it is about who they are, not what they said.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases.

    SQLite has no time zone type and hands back naive values; normalising here means the rest of
    the code compares aware datetimes only and never guesses.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[int]: JSON(),
    }


class Platform(enum.StrEnum):
    """The chat platforms a workspace can live on."""

    SLACK = "slack"
    TEAMS = "teams"


class Workspace(Base):
    """One chat workspace: a Slack workspace (team id) or a Microsoft Teams tenant. Every other row
    belongs to exactly one."""

    __tablename__ = "workspace"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), default=Platform.SLACK.value, server_default=Platform.SLACK.value)
    # The platform's id for it: Slack's team id, Teams' tenant id.
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonSource(enum.StrEnum):
    CSV = "csv"
    SLACK = "slack"
    TEAMS = "teams"


class Person(Base):
    """Someone in the organisation. `manager_id` is the reporting line; a person with active
    reports is a manager."""

    __tablename__ = "person"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        Index("ix_person_workspace_active", "workspace_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default=PersonSource.CSV.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None]
    # Set when everything linked to this person was removed (`privacy forget`); the row stays,
    # nameless, so reporting lines above and below it still add up.
    forgotten_at: Mapped[datetime | None]

    team: Mapped[Team | None] = relationship(lazy="joined")
    manager: Mapped[Person | None] = relationship(remote_side=[id])
    # Loaded on access: most requests find a person through an account and never read the list.
    accounts: Mapped[list[PersonAccount]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def first_name(self) -> str:
        return (self.name.split() or [""])[0]

    def account(self, platform: str) -> PersonAccount | None:
        """This person's account on `platform`, if they have one."""
        return next((account for account in self.accounts if account.platform == platform), None)

    @property
    def can_be_messaged(self) -> bool:
        return self.active and not self.is_bot and bool(self.accounts)


class PersonAccount(Base):
    """A person's account on a chat platform: who they are there, and where to write to them.

    Identity is kept apart from the person so that the domain never holds a platform's ids, and so
    that a person can be reached on more than one platform. The account's workspace is the person's.
    """

    __tablename__ = "person_account"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "external_user_id"),
        UniqueConstraint("person_id", "platform"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    # The platform's id for the person: Slack's user id, Teams' AAD object id.
    external_user_id: Mapped[str] = mapped_column(String(64))
    # Where a direct message to them goes, once known: Slack's DM channel id (opened once with
    # conversations.open and kept, that method being rate-limited), Teams' conversation reference.
    conversation_ref: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(back_populates="accounts")


@event.listens_for(PersonAccount, "before_insert")
def _in_the_persons_workspace(_mapper: Any, _connection: Any, account: PersonAccount) -> None:
    # An account belongs to its person's workspace; an account added through `person.accounts` need not say so.
    if account.workspace_id is None and account.person is not None:
        account.workspace_id = account.person.workspace_id


class Role(enum.StrEnum):
    HR = "hr"


class RoleSource(enum.StrEnum):
    CSV = "csv"  # the org file's role column; replaced on every import
    ENV = "env"  # EMPATHY_ADMINS; survives imports so the first admins cannot lock themselves out
    APP = "app"  # granted in Slack by another HR admin


class RoleGrant(Base):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("person_id", "role", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # no longer wanted (e.g. a reminder to someone who has answered)


class OutboxMessage(Base):
    """A message the bot sends on its own initiative. The unique key makes enqueueing idempotent:
    a job that runs twice finds the row already there and adds nothing."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_outbox_message_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # Exactly one of these says where it goes: a person's DM, or a channel.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # A Slack channel id, or a Teams conversation id (unbounded: they run far past Slack's short ids).
    channel_id: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING.value)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    # Teams: the person's conversation reference (JSON) or a channel's id, and the activity id.
    sent_channel_id: Mapped[str | None] = mapped_column(Text)
    sent_ts: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Event ids already handled. Slack retries a delivery it thinks failed; this makes the retry a no-op."""

    __tablename__ = "processed_event"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxRequest(Base):
    """A Slack request acked before its work ran (bot/delivery/inbox.py): kept until a worker thread has handled it,
    so a crash between the ack and the work loses nothing.

    The request is sealed with EMPATHY_SECRET_KEY: it can hold a pulse answer next to the clicker's user
    id, and nobody reading the database may join the two. Rows live for milliseconds unless the app is
    overloaded or crashed; no column but the request's kind is readable. On SQLite the rows live in a
    file of their own beside the database (bot/delivery/inbox.py: `inbox_engine`), and this table stays empty.
    """

    __tablename__ = "inbox_request"
    # Workers take the oldest rows whose claim has run out: this index hands them over in that order
    # without sorting a backlog of thousands on every poll.
    # ...and this one finds, for a row, whether an earlier request of the same person still waits.
    __table_args__ = (
        Index("ix_inbox_request_claimed_until_id", "claimed_until", "id"),
        Index("ix_inbox_request_ordering_key_id", "ordering_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who is handling it, until when: a worker may take it once this has passed (bot/delivery/inbox.py).
    claimed_by: Mapped[str] = mapped_column(String(64))
    claimed_until: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # One person's requests are applied in the order they arrived: a row is taken only when no earlier
    # row with its key is left. The key is a keyed hash of the sender cut to 65,536 buckets (bot/delivery/inbox.py),
    # not an id: it names nobody to a reader without EMPATHY_SECRET_KEY. None for a request that names nobody.
    ordering_key: Mapped[int | None] = mapped_column(Integer, nullable=True)


class WorkspaceSetting(Base):
    """A per-workspace setting HR changed in Slack (`/empathy config …`); env values are the defaults."""

    __tablename__ = "workspace_setting"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """One admin action: who, what, when — never the content (no suggestion text, no answers)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_workspace_at", "workspace_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    # SET NULL: forgetting an admin keeps the record of what was done, not who they were.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(16))  # "slack", "cli" or "job"
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
