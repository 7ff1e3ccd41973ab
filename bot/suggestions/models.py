"""Tables for the anonymous suggestion box (issue #5).

Anonymity by construction: no table here references `person` for the author. A suggestion keeps
only dates (never times), the text, and an *encrypted* reply handle (AES-GCM with
EMPATHY_SECRET_KEY, which never enters the database, and no timestamp) so replies can reach the
author. The daily rate limit is one sealed row per workspace and day, rewritten whole at every
submission, so no row changes with one person's submissions and not with everyone's.
"""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.models import Base


class SuggestionStatus(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"


class Suggestion(Base):
    __tablename__ = "suggestion"
    __table_args__ = (
        UniqueConstraint("workspace_id", "reference"),
        # A hash of the modal's view id: the same form submitted twice is one suggestion.
        UniqueConstraint("workspace_id", "submit_key"),
        Index("ix_suggestion_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(16))
    submit_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    # Only when the author switched on "share my name"; otherwise nothing here names anyone.
    shared_name: Mapped[str | None] = mapped_column(String(200))
    # The author's person id sealed with SecretBox.seal_untimed ("v2.…": no creation time in it;
    # handles made before were Fernet tokens, re-sealed by the migration or the tend job); None once
    # the author is forgotten.
    reply_handle: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=SuggestionStatus.NEW.value)
    # Why it won't be done, or what was done: shown to the author and in "you said, we did".
    status_note: Mapped[str | None] = mapped_column(Text)
    submitted_on: Mapped[date] = mapped_column(Date)
    acknowledged_on: Mapped[date | None] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    # The day this suggestion appeared in a "you said, we did" summary (each appears once).
    summarised_on: Mapped[date | None] = mapped_column(Date)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class SuggestionMessage(Base):
    """One message of the two-way thread. Owner messages name the owner (they speak for the
    company); author messages name nobody."""

    __tablename__ = "suggestion_message"
    __table_args__ = (
        UniqueConstraint("suggestion_id", "number"),
        # An HMAC of the form's view id: the same reply form submitted twice (a replay, a retry) is one message.
        UniqueConstraint("suggestion_id", "submit_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestion.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    from_owner: Mapped[bool] = mapped_column(Boolean)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    sent_on: Mapped[date] = mapped_column(Date)
    # None for messages stored before replies were keyed by their form.
    submit_key: Mapped[str | None] = mapped_column(String(64))


class SuggestionTally(Base):
    """How many suggestions each person sent on one day in one workspace, as ONE sealed value.

    The value is {person id: count} sealed with EMPATHY_SECRET_KEY (AES-GCM, fresh nonce) and padded
    to a size set by the workspace's head count, and every submission rewrites it whole under a row
    lock. So the same row changes, to the same size, at every submission by anyone: replaying the
    database's log commit by commit, or diffing two backups, shows that *a* suggestion was counted,
    never whose, nor that two were counted for the same person. Rows of past days are deleted by the
    `suggestions.tend` job.
    """

    __tablename__ = "suggestion_tally"
    __table_args__ = (UniqueConstraint("workspace_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
