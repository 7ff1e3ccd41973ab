"""Custom question packs per workspace, added from files on top of the built-in ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.bank import Pack, QuestionBank, parse_pack
from surveys.models import CustomPack

MAX_PACK_FILE = 100_000


def workspace_bank(session: Session, workspace_id: int) -> QuestionBank:
    """The built-in packs plus this workspace's own."""
    bank = QuestionBank.builtin()
    for row in session.scalars(
        select(CustomPack).where(CustomPack.workspace_id == workspace_id).order_by(CustomPack.id)
    ):
        bank = bank.with_pack(parse_pack(row.source, source=row.pack_id))
    return bank


def add_custom_pack(session: Session, workspace_id: int, text: str, *, source: str) -> Pack:
    """Validate and store a pack file; PackError (and nothing stored) on any problem."""
    pack = parse_pack(text, source=source)
    workspace_bank(session, workspace_id).with_pack(pack)  # refuses an id that is taken
    session.add(CustomPack(workspace_id=workspace_id, pack_id=pack.id, source=text))
    session.flush()
    return pack
