"""An attacker's tools for the tests: read what a database left in its files, not what it answers.

- `sqlite_file_bytes`: the raw bytes of a SQLite database and its `-wal`, `-shm` and `-journal`
  files, free pages and stale page versions included.
- `wal_commits`: replays a SQLite write-ahead log commit by commit and returns a readable copy of
  the database as it was after each one (how the audit linked answers to people: a flag flips in
  the same commit as an answer row appears).
- `pg_table_bytes`: the raw bytes of a PostgreSQL table's files (main fork and TOAST), dead tuples
  included, after a CHECKPOINT has flushed them.
- `fernet_tokens`: every Fernet token found in some bytes, for the key holder's attack.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import struct
import tempfile
from pathlib import Path

from sqlalchemy import Engine, text

WAL_HEADER = 32
FRAME_HEADER = 24


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def sqlite_file_bytes(db_path: Path) -> bytes:
    chunks = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{db_path}{suffix}")
        if candidate.exists():
            chunks.append(candidate.read_bytes())
    return b"".join(chunks)


def _page_size(db_bytes: bytes) -> int:
    (size,) = struct.unpack(">H", db_bytes[16:18])
    return 65536 if size == 1 else size


def wal_frames(wal: bytes, page_size: int) -> list[tuple[int, int, bytes]]:
    """(page number, database size after commit or 0, page bytes) for every frame in the log."""
    frames = []
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(wal):
        page_no, commit_size = struct.unpack(">II", wal[offset : offset + 8])
        if page_no == 0:
            break
        frames.append((page_no, commit_size, wal[offset + FRAME_HEADER : offset + FRAME_HEADER + page_size]))
        offset += FRAME_HEADER + page_size
    return frames


def wal_commits(db_path: Path) -> list[sqlite3.Connection]:
    """A read-only copy of the database after each commit found in its write-ahead log.

    Starts from the main file as it is, so pages the log never touched are today's: good enough
    to read the rows that a commit wrote, which is what the attack needs."""
    base = bytearray(Path(db_path).read_bytes())
    wal_path = Path(f"{db_path}-wal")
    if not wal_path.exists() or len(base) < 100:
        return []
    page_size = _page_size(bytes(base))
    snapshots = []
    folder = Path(tempfile.mkdtemp(prefix="wal-replay-"))
    for page_no, commit_size, page in wal_frames(wal_path.read_bytes(), page_size):
        start = (page_no - 1) * page_size
        if len(base) < start + page_size:
            base.extend(bytes(start + page_size - len(base)))
        base[start : start + page_size] = page
        if commit_size:
            copy = folder / f"commit-{len(snapshots)}.sqlite3"
            image = bytearray(base[: commit_size * page_size])
            image[18:20] = b"\x01\x01"  # read it as a rollback-journal database: no WAL to look for
            copy.write_bytes(bytes(image))
            snapshots.append(sqlite3.connect(f"file:{copy}?immutable=1", uri=True))
    return snapshots


def copy_database(db_path: Path, into: Path) -> Path:
    """A backup as an operator would take it: the files, copied as they are."""
    into.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{db_path}{suffix}")
        if source.exists():
            shutil.copy(source, into / f"backup.sqlite3{suffix}")
    return into / "backup.sqlite3"


def pg_table_bytes(engine: Engine, table: str) -> bytes:
    """Everything on disk for one table, read as the database superuser (the tests' role)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("CHECKPOINT"))
        data_dir = connection.scalar(text("SELECT current_setting('data_directory')"))
        relations = [table]
        toast = connection.scalar(
            text("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": table},
        )
        if toast and toast != "-":
            relations.append(toast)
        chunks = []
        for relation in relations:
            path = connection.scalar(text("SELECT pg_relation_filepath(CAST(:r AS regclass))"), {"r": relation})
            size = connection.scalar(text("SELECT pg_relation_size(CAST(:r AS regclass))"), {"r": relation})
            if path and size:
                chunks.append(
                    connection.scalar(
                        text("SELECT pg_read_binary_file(:p, 0, :n)"), {"p": f"{data_dir}/{path}", "n": size}
                    )
                )
    return b"".join(bytes(c) for c in chunks)


FERNET = re.compile(rb"gAAAAA[A-Za-z0-9_\-]{40,}={0,2}")


def fernet_tokens(data: bytes) -> set[str]:
    return {m.group().decode() for m in FERNET.finditer(data)}
