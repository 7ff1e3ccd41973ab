"""Tables for recognition shout-outs and company values (issue #6).

Recognition is public by nature, so unlike pulses and suggestions these rows name the giver and
the recipients. Values are copied onto each kudos as tags, so renaming or removing a value later
never rewrites what someone already said.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.models import Base, utcnow


class KudosKind(enum.StrEnum):
    SHOUT_OUT = "shout_out"  # /kudos, the modal or the message shortcut
    REACTION = "reaction"  # the configured emoji on someone's message: light recognition


class CompanyValue(Base):
    __tablename__ = "company_value"
    __table_args__ = (UniqueConstraint("workspace_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    # What people type after `#`: the name in lower case with dashes ("Customer first" -> customer-first).
    tag: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(40))
    emoji: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Kudos(Base):
    __tablename__ = "kudos"
    __table_args__ = (
        # The modal's view id, or a hash of the typed command: the same submission twice is one kudos.
        UniqueConstraint("workspace_id", "submit_key"),
        Index("ix_kudos_giver_created", "giver_id", "created_at"),
        Index("ix_kudos_workspace_created", "workspace_id", "created_at"),
        Index("ix_kudos_reaction_item", "workspace_id", "item_channel", "item_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    giver_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=KudosKind.SHOUT_OUT.value)
    message: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    submit_key: Mapped[str] = mapped_column(String(80))
    # The message a reaction (or the "Give kudos for this" shortcut) was about.
    item_channel: Mapped[str | None] = mapped_column(String(32))
    item_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recipients: Mapped[list[KudosRecipient]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="KudosRecipient.position"
    )
    values: Mapped[list[KudosValue]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="KudosValue.position"
    )


class KudosRecipient(Base):
    __tablename__ = "kudos_recipient"
    __table_args__ = (Index("ix_kudos_recipient_person", "person_id"),)

    kudos_id: Mapped[int] = mapped_column(ForeignKey("kudos.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class KudosValue(Base):
    __tablename__ = "kudos_value"

    kudos_id: Mapped[int] = mapped_column(ForeignKey("kudos.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
