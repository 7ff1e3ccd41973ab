"""Custom question packs per workspace, added from files on top of the built-in ones.

A workspace's bank is parsed once per process and kept with the version of the packs it was built
from: (how many packs the workspace has, the highest pack row id, when the newest was stored). Packs are only ever added or
deleted (`add_custom_pack`; a changed pack file is a new row), so any change moves that version,
whichever process made it. Checking it costs a click nothing: the answer path reads it in the
query that finds the round (`pack_version` columns, noted with `note_pack_version`); other paths
read the two numbers in one small query instead of reading and parsing every pack's YAML.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from surveys.bank import Pack, QuestionBank, parse_pack
from surveys.models import CustomPack

MAX_PACK_FILE = 100_000

# (number of the workspace's packs, highest pack row id or 0, newest created_at or None). The time
# tells apart two databases whose packs got the same ids (a process that opens several: tests).
PackVersion = tuple[int, int, Any]

_VERSIONS = "custom_pack_versions"  # session.info: versions read in this transaction, by workspace id
_banks: dict[tuple[str, int], tuple[PackVersion, QuestionBank]] = {}
_banks_lock = threading.Lock()


def pack_version(workspace_id: Any) -> tuple[Any, Any, Any]:
    """Three scalar subqueries giving a workspace's pack version, to add to a query that reads it
    anyway (`workspace_id` may be a column of that query)."""
    mine = CustomPack.workspace_id == workspace_id
    return (
        select(func.count(CustomPack.id)).where(mine).scalar_subquery(),
        select(func.coalesce(func.max(CustomPack.id), 0)).where(mine).scalar_subquery(),
        select(func.max(CustomPack.created_at)).where(mine).scalar_subquery(),
    )


def note_pack_version(session: Session, workspace_id: int, count: int, top: int, newest: Any) -> None:
    """The pack version read in this transaction: `workspace_bank` then needs no query to check its copy."""
    session.info.setdefault(_VERSIONS, {})[workspace_id] = _version(count, top, newest)


def _version(count: Any, top: Any, newest: Any) -> PackVersion:
    # SQLite hands back the stored text of a datetime from a bare max(); compare its text either way.
    return (int(count or 0), int(top or 0), None if newest is None else str(newest))


def workspace_bank(session: Session, workspace_id: int) -> QuestionBank:
    """The built-in packs plus this workspace's own."""
    version = session.info.get(_VERSIONS, {}).get(workspace_id)
    if version is None:
        version = _version(*session.execute(select(*pack_version(workspace_id))).one())
    where = (str(session.get_bind().engine.url), workspace_id)
    with _banks_lock:
        kept = _banks.get(where)
    if kept is not None and kept[0] == version:
        return kept[1]
    bank = QuestionBank.builtin()
    rows = list(
        session.scalars(select(CustomPack).where(CustomPack.workspace_id == workspace_id).order_by(CustomPack.id))
    )
    for row in rows:
        bank = bank.with_pack(parse_pack(row.source, source=row.pack_id))
    # Kept under the version checked only if the rows read are that version's: a pack added in between
    # leaves nothing kept, and the next call reads again.
    read = version if (len(rows), max((row.id for row in rows), default=0)) == version[:2] else (-1, -1, None)
    with _banks_lock:
        _banks[where] = (read, bank)
    return bank


def add_custom_pack(session: Session, workspace_id: int, text: str, *, source: str) -> Pack:
    """Validate and store a pack file; PackError (and nothing stored) on any problem."""
    pack = parse_pack(text, source=source)
    workspace_bank(session, workspace_id).with_pack(pack)  # refuses an id that is taken
    session.add(CustomPack(workspace_id=workspace_id, pack_id=pack.id, source=text))
    session.flush()
    session.info.get(_VERSIONS, {}).pop(workspace_id, None)  # this transaction's own view moved on
    return pack
