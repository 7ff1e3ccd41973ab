"""Migration 0020 moves Slack identity off `person` and `workspace` into `person_account` and
`workspace.platform/external_id`, on a database as the previous version left it: every Slack id and
DM channel arrives in an account, no row anywhere is lost (SQLite rebuilds tables in batch mode, which
with foreign keys on once cascaded into every child table), and a downgrade puts the columns back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text

from bot.core.accounts import find_by_account
from bot.core.database import alembic_config, make_engine, make_session_factory
from bot.core.models import PersonAccount, Platform, Workspace
from tests.support.migrating import database_at

THEN = datetime(2026, 11, 1, 9, 0)


@pytest.fixture
def at_0019(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the revision before identity moved."""
    with database_at("0019", db_url, tmp_path) as url:
        yield url


def _seed(engine: Engine) -> dict[str, int]:
    """Rows as the previous version wrote them: Ana (Slack id, DM kept), Ben (Slack id, no DM yet), a
    forgotten colleague (neither), and rows in tables that point at workspaces and people."""
    with engine.begin() as connection:

        def insert(sql: str, **values: object) -> int:
            return int(connection.execute(text(sql + " RETURNING id"), {"now": THEN, **values}).scalar_one())

        workspace = insert("INSERT INTO workspace (slack_team_id, name, created_at) VALUES ('T0001', 'Acme', :now)")
        team = insert("INSERT INTO team (workspace_id, name, created_at) VALUES (:w, 'Platform', :now)", w=workspace)
        person_sql = (
            "INSERT INTO person (workspace_id, email, slack_user_id, dm_channel_id, name, team_id, active, is_bot,"
            " source, created_at, updated_at) VALUES (:w, :email, :slack, :dm, :name, :team, :active, false, 'slack',"
            " :now, :now)"
        )
        ana = insert(
            person_sql,
            w=workspace,
            email="ana@example.com",
            slack="U0ANA",
            dm="D0ANA",
            name="Ana",
            team=team,
            active=True,
        )
        ben = insert(
            person_sql, w=workspace, email="ben@example.com", slack="U0BEN", dm=None, name="Ben", team=team, active=True
        )
        gone = insert(
            person_sql, w=workspace, email=None, slack=None, dm=None, name="Former colleague", team=team, active=False
        )
        insert(
            "INSERT INTO role_grant (workspace_id, person_id, role, source, created_at)"
            " VALUES (:w, :p, 'hr', 'csv', :now)",
            w=workspace,
            p=ana,
        )
        insert(
            "INSERT INTO outbox_message (workspace_id, idempotency_key, person_id, payload, state, due_at, attempts,"
            " created_at) VALUES (:w, 'k1', :p, '{\"text\": \"hi\"}', 'pending', :now, 0, :now)",
            w=workspace,
            p=ben,
        )
    return {"workspace": workspace, "ana": ana, "ben": ben, "gone": gone}


def _counts(engine: Engine) -> dict[str, int]:
    names = [n for n in inspect(engine).get_table_names() if n not in ("alembic_version", "person_account")]
    with engine.connect() as connection:
        return {name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in names}


def test_slack_ids_and_dm_channels_become_accounts_and_no_row_is_lost(at_0019: str) -> None:
    engine = make_engine(at_0019)
    ids = _seed(engine)
    before = _counts(engine)
    engine.dispose()

    command.upgrade(alembic_config(at_0019), "head")

    engine = make_engine(at_0019)
    # Tables added by later revisions start empty here (0024's counts: no round closed in this seed).
    assert _counts(engine) == before | {"pulse_value_count": 0}
    assert {c["name"] for c in inspect(engine).get_columns("person")}.isdisjoint({"slack_user_id", "dm_channel_id"})
    with make_session_factory(engine)() as session:
        accounts = {
            (a.person_id, a.platform, a.external_user_id, a.conversation_ref, a.workspace_id)
            for a in session.scalars(select(PersonAccount))
        }
        assert accounts == {
            (ids["ana"], "slack", "U0ANA", "D0ANA", ids["workspace"]),
            (ids["ben"], "slack", "U0BEN", None, ids["workspace"]),
        }
        workspace = session.scalars(select(Workspace)).one()
        assert (workspace.platform, workspace.external_id) == (Platform.SLACK, "T0001")
        ana = find_by_account(session, workspace, "U0ANA")
        assert ana is not None and ana.id == ids["ana"] and ana.team is not None
    engine.dispose()


def test_a_downgrade_puts_the_slack_columns_back(at_0019: str) -> None:
    engine = make_engine(at_0019)
    ids = _seed(engine)
    before = _counts(engine)
    engine.dispose()
    command.upgrade(alembic_config(at_0019), "head")
    command.downgrade(alembic_config(at_0019), "0019")

    engine = make_engine(at_0019)
    assert _counts(engine) == before
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, slack_user_id, dm_channel_id FROM person ORDER BY id")).all()
        team = connection.execute(text("SELECT slack_team_id FROM workspace")).scalar_one()
    assert [tuple(r) for r in rows] == [
        (ids["ana"], "U0ANA", "D0ANA"),
        (ids["ben"], "U0BEN", None),
        (ids["gone"], None, None),
    ]
    assert team == "T0001"
    engine.dispose()
