"""Data a fixture builds once per test session and restores, identical, into each test's fresh database.

A fixture like the digests' six closed weekly rounds ran the real services for every test that used it.
`built_once` runs the build the first time on each kind of database, keeps what the database holds
afterwards, and later loads exactly that into the next test's database instead of building again:

- SQLite: the whole file, through SQLite's own backup API (pages copied as they are);
- PostgreSQL: each table's rows in `COPY`'s text form, in primary key order, and every sequence's value.

Nothing is parsed into Python objects on the way, so what a test reads is byte for byte what the build
wrote. The database must look the same before each restore as it did before the build (same rows in
the same tables, such as the `workspace` fixture's one): that is checked, so a test that adds rows
first fails loudly instead of having them wiped.

Snapshots live in the memory of the process that built them: under pytest-xdist each worker builds its
own, from and into its own databases, and no worker ever reads another's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select, text

from bot.core.models import Base

T = TypeVar("T")


@dataclass
class _Snapshot:
    before: dict[str, int]  # rows per non-empty table before the build
    value: Any  # what the build returned (ids: the same after each restore)
    sqlite: sqlite3.Connection | None = None
    tables: dict[str, bytes] | None = None  # PostgreSQL: COPY text per non-empty table
    sequences: dict[str, tuple[int, bool]] | None = None


_SNAPSHOTS: dict[tuple[str, str], _Snapshot] = {}


def built_once(name: str, engine: Engine, build: Callable[[], T]) -> T:
    """`build()`'s result, and the database as `build` left it; `build` runs once per session and dialect."""
    key = (name, engine.dialect.name)
    before = _row_counts(engine)
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is not None:
        assert before == snapshot.before, (
            f"{name}: the database held {before} before the restore, not {snapshot.before}"
        )
        _restore(engine, snapshot)
        return snapshot.value  # type: ignore[no-any-return]
    value = build()
    _SNAPSHOTS[key] = _take(engine, before, value)
    return value


def _row_counts(engine: Engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            count = connection.scalar(select(func.count()).select_from(table)) or 0
            if count:
                counts[table.name] = count
    return counts


def _take(engine: Engine, before: dict[str, int], value: Any) -> _Snapshot:
    snapshot = _Snapshot(before, value)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if engine.dialect.name == "sqlite":
            snapshot.sqlite = sqlite3.connect(":memory:", check_same_thread=False)
            driver.backup(snapshot.sqlite)  # type: ignore[union-attr]
            return snapshot
        snapshot.tables = {}
        cursor = driver.cursor()  # type: ignore[union-attr]
        for table in Base.metadata.sorted_tables:
            order = ", ".join(f'"{column.name}"' for column in table.primary_key.columns) or "1"
            with cursor.copy(f'COPY (SELECT * FROM "{table.name}" ORDER BY {order}) TO STDOUT') as copy:
                data = b"".join(bytes(block) for block in copy)
            if data:
                snapshot.tables[table.name] = data
        cursor.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()")
        snapshot.sequences = {
            name: (last if last is not None else 1, last is not None) for name, last in cursor.fetchall()
        }
        raw.commit()
        return snapshot
    finally:
        raw.close()


def _restore(engine: Engine, snapshot: _Snapshot) -> None:
    if snapshot.sqlite is not None:
        raw = engine.raw_connection()
        try:
            snapshot.sqlite.backup(raw.driver_connection)  # type: ignore[arg-type]
        finally:
            raw.close()
        engine.dispose()  # no pooled connection keeps a cache of the pages it replaced
        return
    assert snapshot.tables is not None and snapshot.sequences is not None
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        for table in Base.metadata.sorted_tables:
            data = snapshot.tables.get(table.name)
            if data:
                with cursor.copy(f'COPY "{table.name}" FROM STDIN') as copy:
                    copy.write(data)
        for name, (value, called) in snapshot.sequences.items():
            cursor.execute("SELECT setval(%s, %s, %s)", (f'"{name}"', value, called))
        raw.commit()
    finally:
        raw.close()
