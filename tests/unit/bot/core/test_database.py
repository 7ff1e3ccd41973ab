"""PostgreSQL connections are pinged before use only after sitting idle: a busy process pays no ping
per transaction, and a connection whose server went away while it was idle is still replaced before
anyone's statement fails on it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, exc, text

from bot.core import database
from bot.core.database import make_engine
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need EMPATHY_TEST_DATABASE_URL")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    assert PG_URL
    # Longer than any pause between two of a test's statements however busy the machine is (a 0.3 s
    # window failed under load: the killer's own connection, or a descheduled thread, took longer), so
    # "used a moment ago" holds; the test of an idle connection shortens it and sleeps past it.
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 60.0)
    engine = make_engine(PG_URL, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        made.append(1)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    return made


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(backend: int) -> None:
    assert PG_URL
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
    finally:
        admin.dispose()
    time.sleep(0.05)  # the server closes the socket just after it answers


def test_a_connection_used_a_moment_ago_is_not_pinged(engine: Engine, pings: list[int]) -> None:
    first = _backend(engine)
    for _ in range(20):
        assert _backend(engine) == first
    assert pings == []  # SQLAlchemy's pool_pre_ping would have pinged 20 times


def test_a_connection_that_lost_its_server_while_idle_is_replaced_before_use(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.3)
    first = _backend(engine)
    _kill(first)
    time.sleep(0.4)  # idle past PING_AFTER_IDLE_SECONDS
    second = _backend(engine)  # no error reaches the caller
    assert second != first
    assert pings == [1]


def test_a_server_lost_within_the_idle_window_costs_one_statement_then_the_pool_recovers(engine: Engine) -> None:
    first = _backend(engine)
    _kill(first)
    with pytest.raises(exc.DBAPIError) as raised:
        _backend(engine)
    assert raised.value.connection_invalidated  # seen as a disconnect: the pool drops its connections
    assert _backend(engine) != first
