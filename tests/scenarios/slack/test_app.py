"""The Slack front door: signatures, /empathy, App Home per role, event deduplication, /healthz."""

from __future__ import annotations

import time
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Person, ProcessedEvent, Role, RoleGrant, RoleSource, Team, Workspace
from tests.conftest import TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.support.people import slack_account
from tests.support.slack_requests import SlackRequests


def _person(session: Session, workspace: Workspace, slack_id: str, name: str, **fields: object) -> Person:
    person = Person(
        workspace_id=workspace.id,
        accounts=slack_account(slack_id),
        email=f"{name.split()[0].lower()}@example.com",
        name=name,
        timezone="Europe/Lisbon",
        start_date=date(2024, 1, 8),
        **fields,
    )
    session.add(person)
    session.flush()
    return person


def _org(session_factory: sessionmaker[Session], workspace: Workspace) -> None:
    """Marcus manages Ana and Ben; Priya is HR; Zoe left."""
    with session_factory.begin() as session:
        team = Team(workspace_id=workspace.id, name="Platform")
        session.add(team)
        session.flush()
        marcus = _person(session, workspace, "U0MARCUS", "Marcus Oyelaran", team_id=team.id)
        _person(session, workspace, "U0ANA", "Ana Souza", team_id=team.id, manager_id=marcus.id)
        _person(session, workspace, "U0BEN", "Ben Carter", team_id=team.id, manager_id=marcus.id)
        _person(session, workspace, "U0ZOE", "Zoe Left", team_id=team.id, manager_id=marcus.id, active=False)
        priya = _person(session, workspace, "U0PRIYA", "Priya Natarajan")
        session.add(RoleGrant(workspace_id=workspace.id, person_id=priya.id, role=Role.HR, source=RoleSource.CSV))


def _text_of(blocks: list[dict]) -> str:
    parts: list[str] = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text", "")
            parts.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(parts)


# -- signatures --------------------------------------------------------------------------------


def test_bad_signature_is_rejected_with_401(slack_requests: SlackRequests, slack: FakeSlack) -> None:
    response = slack_requests.command("/empathy", "help", signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert slack.calls == []


def test_stale_timestamp_is_rejected_with_401(slack_requests: SlackRequests) -> None:
    six_minutes_ago = int(time.time()) - 6 * 60
    response = slack_requests.command("/empathy", "help", timestamp=six_minutes_ago)
    assert response.status_code == 401


def test_signature_over_a_different_body_is_rejected(slack_requests: SlackRequests) -> None:
    ts = int(time.time())
    signed_for_other_body = slack_requests.verifier.generate_signature(timestamp=str(ts), body="text=other")
    response = slack_requests.command("/empathy", "help", timestamp=ts, signature=signed_for_other_body)
    assert response.status_code == 401


# -- /empathy ----------------------------------------------------------------------------------


def test_empathy_help_explains_what_the_bot_does_and_stores(slack_requests: SlackRequests) -> None:
    response = slack_requests.command("/empathy", "help")
    assert response.status_code == 200
    reply = response.get_json()
    assert reply["response_type"] == "ephemeral"
    text = _text_of(reply["blocks"])
    assert "What I do" in text
    assert "What I store about you" in text
    assert "groups of 5 or more" in text
    assert len(reply["blocks"]) <= 50


def test_bare_empathy_shows_help(slack_requests: SlackRequests) -> None:
    reply = slack_requests.command("/empathy", "").get_json()
    assert "What I store about you" in _text_of(reply["blocks"])


def test_unknown_subcommand_gets_a_kind_pointer_to_help(slack_requests: SlackRequests) -> None:
    reply = slack_requests.command("/empathy", "<!channel> frobnicate").get_json()
    assert reply["response_type"] == "ephemeral"
    assert "I don't know `/empathy &lt;!channel&gt;`" in reply["text"]
    assert "/empathy help" in reply["text"]


def test_command_text_mentioning_payload_still_reaches_the_command(slack_requests: SlackRequests) -> None:
    # Bolt alone reads any form body containing "payload" as an interactive payload and answers 404.
    reply = slack_requests.command("/empathy", "payload").get_json()
    assert "I don't know `/empathy payload`" in reply["text"]


# -- App Home ----------------------------------------------------------------------------------


def _open_home(slack_requests: SlackRequests, slack: FakeSlack, user_id: str) -> dict:
    before = len(slack.calls_to("views.publish"))
    assert slack_requests.app_home_opened(user_id).status_code == 200
    published = slack.wait_for("views.publish", count=before + 1)[-1]
    assert published["user_id"] == user_id
    assert len(published["view"]["blocks"]) <= 100
    return published["view"]


def test_home_for_an_employee(
    slack_requests: SlackRequests, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    _org(session_factory, workspace)
    view = _open_home(slack_requests, slack, "U0ANA")
    text = _text_of(view["blocks"])
    assert view["callback_id"] == "home_employee"
    assert "Hi Ana" in text
    assert "Your team" not in text
    assert "People & settings" not in text


def test_home_for_a_manager_lists_active_reports_only(
    slack_requests: SlackRequests, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    _org(session_factory, workspace)
    view = _open_home(slack_requests, slack, "U0MARCUS")
    text = _text_of(view["blocks"])
    assert view["callback_id"] == "home_manager"
    assert "2 direct reports" in text
    assert "Ana Souza, Ben Carter" in text
    assert "Zoe" not in text
    assert "People & settings" not in text


def test_home_for_hr_shows_the_org_summary(
    slack_requests: SlackRequests, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    _org(session_factory, workspace)
    view = _open_home(slack_requests, slack, "U0PRIYA")
    text = _text_of(view["blocks"])
    assert view["callback_id"] == "home_hr"
    assert "*4* active people in *1* teams, *1* managers" in text
    assert "*1* deactivated" in text


def test_home_for_an_admin_named_in_settings_before_any_import(
    slack_requests: SlackRequests, slack: FakeSlack, session_factory: sessionmaker[Session], workspace: Workspace
) -> None:
    # EMPATHY_ADMINS=hr.lead@example.com in the test settings.
    with session_factory.begin() as session:
        _person(session, workspace, "U0LEAD", "Hr Lead").email = "hr.lead@example.com"
    view = _open_home(slack_requests, slack, "U0LEAD")
    assert view["callback_id"] == "home_hr"


def test_home_for_someone_not_in_the_directory(slack_requests: SlackRequests, slack: FakeSlack) -> None:
    view = _open_home(slack_requests, slack, "U0STRANGER")
    assert "I don't have you in the company directory yet" in _text_of(view["blocks"])


# -- events ------------------------------------------------------------------------------------


def test_duplicate_event_delivery_is_handled_once(
    slack_requests: SlackRequests, slack: FakeSlack, session_factory: sessionmaker[Session]
) -> None:
    first = slack_requests.app_home_opened("U0ANA", event_id="Ev0DUPLICATE")
    slack.wait_for("views.publish", count=1)
    retry = slack_requests.app_home_opened("U0ANA", event_id="Ev0DUPLICATE", retry_num=1)
    other = slack_requests.app_home_opened("U0ANA", event_id="Ev0OTHER")
    slack.wait_for("views.publish", count=2)
    time.sleep(0.3)  # give a wrongly-processed retry the chance to show up
    assert (first.status_code, retry.status_code, other.status_code) == (200, 200, 200)
    assert len(slack.calls_to("views.publish")) == 2
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 2
        assert session.get(ProcessedEvent, "Ev0DUPLICATE").slack_team_id == TEAM_ID


# -- health ------------------------------------------------------------------------------------


def test_healthz_is_ok_when_the_database_answers(web: FlaskClient) -> None:
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_gone(slack: FakeSlack, tmp_path) -> None:
    from bot.core.settings import load_settings
    from handlers.slack.app import create_app
    from handlers.slack.web import create_web_app
    from tests.conftest import make_env

    missing = tmp_path / "no-such-dir" / "db.sqlite3"
    settings = load_settings(make_env(slack, f"sqlite:///{missing}"))
    response = create_web_app(create_app(settings)).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
