"""Syncing people from Slack: pagination, bots, deactivations, updates, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.directory import DirectoryError
from bot.models import Person, PersonSource, Workspace
from bot.org_sync import sync_directory
from bot.slack_directory import SlackDirectory
from tests.conftest import BOT_TOKEN
from tests.fake_slack import FakeSlack

NOW = datetime(2026, 11, 23, 3, 17, tzinfo=UTC)


@pytest.fixture
def directory(slack: FakeSlack) -> SlackDirectory:
    return SlackDirectory(WebClient(token=BOT_TOKEN, base_url=slack.url))


def sync(session_factory: sessionmaker[Session], workspace: Workspace, directory: SlackDirectory):  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        return sync_directory(session, session.merge(workspace), directory, now=NOW)


def people(session_factory: sessionmaker[Session]) -> dict[str, Person]:
    with session_factory() as session:
        return {p.slack_user_id or p.email or "": p for p in session.scalars(select(Person))}


def test_sync_reads_every_page(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    for n in range(450):
        slack.add_user(f"U{n:05d}", email=f"person{n}@example.com", real_name=f"Person {n}", tz="Asia/Tokyo")
    report = sync(session_factory, workspace, directory)
    assert report.created == 450
    pages = slack.calls_to("users.list")
    assert [int(p["limit"]) for p in pages] == [200, 200, 200]
    assert "cursor" not in pages[0] and pages[1]["cursor"] and pages[2]["cursor"] != pages[1]["cursor"]
    stored = people(session_factory)
    assert len(stored) == 450
    assert (stored["U00449"].name, stored["U00449"].timezone, stored["U00449"].source) == (
        "Person 449",
        "Asia/Tokyo",
        PersonSource.SLACK,
    )


def test_bots_and_deleted_strangers_are_never_created(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    slack.add_user("U0HELPER", real_name="Helper Bot", is_bot=True)
    slack.add_user("USLACKBOT", real_name="Slackbot")
    slack.add_user("U0GONE", email="gone@example.com", real_name="Long Gone", deleted=True)
    report = sync(session_factory, workspace, directory)
    assert (report.created, report.skipped_bots) == (1, 2)
    assert set(people(session_factory)) == {"U0ANA"}


def test_known_people_are_updated_matched_by_id_or_email(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        session.add(Person(workspace_id=workspace.id, email="ana@example.com", name="Ana", timezone="Europe/Lisbon"))
        session.add(Person(workspace_id=workspace.id, slack_user_id="U0BEN", email="ben@example.com", name="Ben"))
    slack.add_user("U0ANA", email="Ana@Example.com", real_name="Ana Souza", tz="Europe/Paris")
    slack.add_user("U0BEN", email="ben.carter@example.com", real_name="Ben Carter", tz="Europe/London")
    report = sync(session_factory, workspace, directory)
    assert (report.created, report.updated) == (0, 2)
    stored = people(session_factory)
    assert (stored["U0ANA"].email, stored["U0ANA"].name, stored["U0ANA"].timezone) == (
        "ana@example.com",
        "Ana Souza",
        "Europe/Paris",
    )
    assert stored["U0BEN"].email == "ben.carter@example.com"


def test_deleted_users_are_deactivated_and_bots_switched_off(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        session.add(Person(workspace_id=workspace.id, slack_user_id="U0LEFT", email="left@example.com", name="Left"))
        session.add(Person(workspace_id=workspace.id, slack_user_id="U0BOTTY", email="botty@example.com", name="Botty"))
        session.add(Person(workspace_id=workspace.id, slack_user_id="U0QUIET", email="quiet@example.com", name="Quiet"))
    slack.add_user("U0LEFT", email="left@example.com", real_name="Left", deleted=True)
    slack.add_user("U0BOTTY", real_name="Botty", is_bot=True)
    report = sync(session_factory, workspace, directory)
    assert report.deactivated == 1
    stored = people(session_factory)
    assert (stored["U0LEFT"].active, stored["U0LEFT"].deactivated_at) == (False, NOW)
    assert (stored["U0BOTTY"].active, stored["U0BOTTY"].is_bot) == (False, True)
    assert stored["U0QUIET"].active is True  # not listed is not the same as deleted


def test_a_second_sync_changes_nothing(session_factory, workspace, directory, slack) -> None:  # type: ignore[no-untyped-def]
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza")
    slack.add_user("U0GONE", email="gone@example.com", real_name="Gone")
    sync(session_factory, workspace, directory)
    slack.add_user("U0GONE", email="gone@example.com", real_name="Gone", deleted=True)
    sync(session_factory, workspace, directory)
    before = {k: (p.name, p.active, p.updated_at) for k, p in people(session_factory).items()}
    report = sync(session_factory, workspace, directory)
    assert (report.created, report.updated, report.deactivated, report.unchanged) == (0, 0, 0, 2)
    assert {k: (p.name, p.active, p.updated_at) for k, p in people(session_factory).items()} == before


def test_a_missing_scope_is_explained(directory, slack) -> None:  # type: ignore[no-untyped-def]
    slack.error_next("users.list", "missing_scope")
    with pytest.raises(DirectoryError, match=r"missing a permission .*reinstall"):
        list(directory.list_users())


def test_a_lookup_of_an_unknown_email_is_none_not_an_error(directory, slack) -> None:  # type: ignore[no-untyped-def]
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana Souza", tz="Europe/Lisbon")
    assert directory.lookup_by_email("nobody@example.com") is None
    found = directory.lookup_by_email("ANA@example.com")
    assert found is not None and (found.user_id, found.timezone) == ("U0ANA", "Europe/Lisbon")
