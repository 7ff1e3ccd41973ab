"""Syncing people from Slack: pagination, bots, deactivations, updates, idempotency, errors.

The real SlackDirectory and slack_sdk WebClient talk to the fake Slack API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Person, PersonSource, Workspace
from bot.delivery.ports import Directory, DirectoryError, DirectoryUser
from bot.org.sync import SyncReport, sync_directory
from handlers.slack.directory import SlackDirectory
from tests.conftest import BOT_TOKEN
from tests.fakes.slack.api import FakeSlack
from tests.support.people import slack_account, slack_id

NOW = datetime(2026, 11, 23, 3, 17, tzinfo=UTC)


def web_client(slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack.url)


@pytest.fixture
def directory(slack: FakeSlack) -> SlackDirectory:
    return SlackDirectory(web_client(slack))


def sync(
    factory: sessionmaker[Session], workspace: Workspace, directory: Directory, *, now: datetime = NOW
) -> SyncReport:
    with factory.begin() as session:
        return sync_directory(session, session.merge(workspace), directory, now=now)


def counts(report: SyncReport) -> tuple[int, int, int, int, int]:
    return (report.created, report.updated, report.deactivated, report.unchanged, report.skipped_bots)


def add_people(factory: sessionmaker[Session], workspace: Workspace, *people: dict[str, Any]) -> None:
    with factory.begin() as session:
        for values in people:
            fields = dict(values)
            user_id = fields.pop("slack_user_id", None)
            session.add(Person(workspace_id=workspace.id, accounts=slack_account(user_id) if user_id else [], **fields))


def stored(factory: sessionmaker[Session]) -> dict[str, Person]:
    """Everyone in the database by Slack id (or email when they have none)."""
    with factory() as session:
        return {slack_id(p) or p.email or "": p for p in session.scalars(select(Person))}


def rows(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        return [
            tuple(getattr(p, c.key) for c in Person.__table__.columns)
            for p in session.scalars(select(Person).order_by(Person.id))
        ]


def test_sync_reads_every_page_with_slacks_cursors(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    for n in range(450):
        slack.add_user(f"U{n:05d}", email=f"Person{n}@Example.com", real_name=f"Person {n}", tz="Asia/Tokyo")
    slack.users_page_size = 7  # what the fake uses without a limit: ours must be sent
    cursors = [None, *next_cursors(slack, pages=2)]
    before = len(slack.calls_to("users.list"))

    report = sync(session_factory, workspace, directory)

    pages = slack.calls_to("users.list")[before:]
    assert [(int(p["limit"]), p.get("cursor")) for p in pages] == [(200, c) for c in cursors]
    assert counts(report) == (450, 0, 0, 0, 0)
    people = stored(session_factory)
    assert sorted(people) == [f"U{n:05d}" for n in range(450)]
    last = people["U00449"]
    assert (last.email, last.name, last.timezone, last.source, last.active) == (
        "person449@example.com",
        "Person 449",
        "Asia/Tokyo",
        PersonSource.SLACK,
        True,
    )
    assert (last.team_id, last.manager_id) == (None, None)


def next_cursors(slack: FakeSlack, *, pages: int) -> list[str]:
    """The cursors Slack hands out for 200-user pages, read with a plain client."""
    client, cursors, cursor = web_client(slack), [], None
    for _ in range(pages):
        cursor = client.users_list(limit=200, cursor=cursor)["response_metadata"]["next_cursor"]
        cursors.append(cursor)
    return cursors


def test_a_single_page_needs_a_single_call(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    sync(session_factory, workspace, directory)
    assert len(slack.calls_to("users.list")) == 1


def test_bots_and_people_who_already_left_are_never_created(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    slack.add_user("U0HELPER", real_name="Helper Bot", is_bot=True)
    slack.add_user("USLACKBOT", real_name="Slackbot")
    slack.add_user("U0GONE", email="gone@example.com", real_name="Long Gone", deleted=True)

    report = sync(session_factory, workspace, directory)

    assert counts(report) == (1, 0, 0, 0, 2)
    assert list(stored(session_factory)) == ["U0ANA"]


def test_known_people_are_matched_by_slack_id_or_email_and_updated(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    add_people(
        session_factory,
        workspace,
        {"email": "ana@example.com", "name": "Ana", "timezone": "Europe/Lisbon", "team_id": None},
        {"slack_user_id": "U0BEN", "email": "ben@example.com", "name": "Ben", "timezone": "Europe/London"},
    )
    slack.add_user("U0ANA", email="Ana@Example.com", real_name="Ana Souza", tz="Europe/Paris")
    slack.add_user("U0BEN", email="ben.carter@example.com", real_name="Ben Carter", tz="Europe/London")

    report = sync(session_factory, workspace, directory)

    assert counts(report) == (0, 2, 0, 0, 0)
    people = stored(session_factory)
    assert set(people) == {"U0ANA", "U0BEN"}  # Ana, matched by email, learnt her Slack id
    assert [(p.email, p.name, p.timezone, p.source) for p in (people["U0ANA"], people["U0BEN"])] == [
        ("ana@example.com", "Ana Souza", "Europe/Paris", PersonSource.CSV),
        ("ben.carter@example.com", "Ben Carter", "Europe/London", PersonSource.CSV),
    ]


def test_an_email_another_person_holds_is_left_alone(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    add_people(
        session_factory,
        workspace,
        {"slack_user_id": "U0ANA", "email": "ana.old@example.com", "name": "Ana"},
        {"email": "ana@example.com", "name": "Ana (from the org file)"},
    )
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")

    report = sync(session_factory, workspace, directory)

    assert counts(report) == (0, 1, 0, 0, 0)
    people = stored(session_factory)
    assert (people["U0ANA"].email, people["U0ANA"].name) == ("ana.old@example.com", "Ana Souza")
    assert people["ana@example.com"].name == "Ana (from the org file)"


def test_deleted_users_are_deactivated_bots_switched_off_and_the_unlisted_kept(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    add_people(
        session_factory,
        workspace,
        {"slack_user_id": "U0LEFT", "email": "left@example.com", "name": "Left"},
        {"slack_user_id": "U0BOTTY", "name": "Botty"},
        {"slack_user_id": "U0QUIET", "email": "quiet@example.com", "name": "Quiet"},
    )
    slack.add_user("U0LEFT", email="left@example.com", real_name="Left", deleted=True)
    slack.add_user("U0BOTTY", real_name="Botty", is_bot=True)

    report = sync(session_factory, workspace, directory)

    assert counts(report) == (0, 0, 1, 0, 1)
    people = stored(session_factory)
    assert (people["U0LEFT"].active, people["U0LEFT"].deactivated_at) == (False, NOW)
    assert (people["U0BOTTY"].active, people["U0BOTTY"].is_bot) == (False, True)
    assert (people["U0QUIET"].active, people["U0QUIET"].deactivated_at) == (True, None)  # unlisted is not deleted


def test_a_second_sync_changes_nothing(
    session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory, slack: FakeSlack
) -> None:
    add_people(session_factory, workspace, {"slack_user_id": "U0BOTTY", "name": "Botty"})
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    slack.add_user("U0GONE", email="gone@example.com", real_name="Gone")
    slack.add_user("U0BOTTY", real_name="Botty", is_bot=True)
    sync(session_factory, workspace, directory)
    slack.add_user("U0GONE", email="gone@example.com", real_name="Gone", deleted=True)
    assert counts(sync(session_factory, workspace, directory)) == (0, 0, 1, 1, 1)
    before = rows(session_factory)

    report = sync(session_factory, workspace, directory, now=NOW + timedelta(days=1))

    assert counts(report) == (0, 0, 0, 2, 1)
    assert rows(session_factory) == before  # updated_at and deactivated_at included


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            "missing_scope",
            "Slack refused users.list (missing_scope): the app needs the users:read scope. "
            "Add it under OAuth & Permissions (or paste manifest.yml again), then reinstall the app",
        ),
        (
            "invalid_auth",
            "Slack refused users.list (invalid_auth): check SLACK_BOT_TOKEN, or reinstall the app to get a new token",
        ),
        (
            "fatal_error",
            "Slack could not answer users.list (fatal_error); try again, "
            "and if it keeps happening check status.slack.com",
        ),
    ],
)
def test_a_directory_error_is_explained_and_changes_nothing(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    directory: SlackDirectory,
    slack: FakeSlack,
    error: str,
    expected: str,
) -> None:
    for n in range(201):
        slack.add_user(f"U{n:05d}", email=f"person{n}@example.com", real_name=f"Person {n}")
    # The second page fails, after the first page's 200 people were added to the session.
    failing = FailingAfterFirstPage(directory, slack, error)
    with pytest.raises(DirectoryError) as caught:
        sync(session_factory, workspace, failing)

    assert failing.users_read == 200
    assert str(caught.value) == expected
    assert rows(session_factory) == []


class FailingAfterFirstPage:
    """The real directory, with Slack answering `error` to the users.list call after the first."""

    def __init__(self, directory: SlackDirectory, slack: FakeSlack, error: str) -> None:
        self.directory, self.slack, self.error = directory, slack, error
        self.users_read = 0

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        return self.directory.lookup_by_email(email)

    def list_users(self) -> Iterator[DirectoryUser]:
        for user in self.directory.list_users():
            if self.users_read == 0:
                self.slack.error_next("users.list", self.error)
            self.users_read += 1
            yield user


def test_an_unreachable_slack_is_a_directory_error(session_factory: sessionmaker[Session]) -> None:
    closed = SlackDirectory(WebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/", timeout=2))
    with pytest.raises(DirectoryError, match=r"^Could not reach Slack to read the directory \(users\.list: "):
        list(closed.list_users())


def test_lookup_by_email_maps_slacks_user_and_says_none_for_nobody(directory: SlackDirectory, slack: FakeSlack) -> None:
    slack.add_user("U0ANA", email="Ana@Example.com", name="ana", real_name="Ana Souza", tz="Europe/Lisbon")
    slack.add_user("U0NONAME", email="x@example.com", name="xavier")
    slack.add_user("U0HELPER", email="helper@example.com", real_name="Helper", is_bot=True, deleted=True)

    assert directory.lookup_by_email("nobody@example.com") is None
    ana, xavier, helper = (
        directory.lookup_by_email(e) for e in ("ANA@example.com", "x@example.com", "helper@example.com")
    )

    assert ana is not None and (ana.user_id, ana.email, ana.name, ana.timezone, ana.is_bot) == (
        "U0ANA",
        "ana@example.com",
        "Ana Souza",
        "Europe/Lisbon",
        False,
    )
    assert xavier is not None and xavier.name == "xavier"  # no real name: the handle
    assert helper is not None and (helper.is_bot, helper.deleted) == (True, True)


def test_a_lookup_without_the_email_scope_names_the_scope(directory: SlackDirectory, slack: FakeSlack) -> None:
    slack.error_next("users.lookupByEmail", "missing_scope")
    with pytest.raises(DirectoryError, match=r"users\.lookupByEmail \(missing_scope\).*users:read\.email scope"):
        directory.lookup_by_email("ana@example.com")
