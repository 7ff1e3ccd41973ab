"""Multi-workspace install: Slack's OAuth flow through the real app, then two workspaces side by side
that never see each other's people, answers, digests, App Home, suggestions or kudos."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from slack_bolt import App
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import NOT_INSTALLED, create_app
from bot.clock import ManualClock
from bot.installations import TokenSource
from bot.jobs import build_jobs
from bot.models import Person, Role, RoleGrant, RoleSource, Workspace
from bot.scheduler import run_job
from bot.settings import Settings, load_settings
from bot.slack_client import build_web_client
from bot.web import create_web_app
from handlers import suggest_views
from tests.conftest import SIGNING_SECRET, make_env
from tests.fake_slack import Call, FakeSlack
from tests.slack_requests import SlackRequests
from tests.test_results import ORG, build_org, run_round

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
FIRST, SECOND = "T0FIRST", "T0SECOND"
TOKENS = {FIRST: "xoxb-first-install", SECOND: "xoxb-second-install"}


@pytest.fixture
def oauth_settings(slack: FakeSlack, db_url: str) -> Settings:
    """OAuth distribution mode: a client id and secret, no single bot token."""
    env = make_env(slack, db_url, SLACK_CLIENT_ID="111.222", SLACK_CLIENT_SECRET="client-secret")
    del env["SLACK_BOT_TOKEN"]
    return load_settings(env)


@dataclass
class Installed:
    app: App
    web: FlaskClient
    settings: Settings
    session_factory: sessionmaker[Session]
    slack: FakeSlack

    def requests(self, team_id: str) -> SlackRequests:
        return SlackRequests(self.web, SIGNING_SECRET, team_id=team_id, response_base=self.slack.url)


def install(web: FlaskClient, slack: FakeSlack, team_id: str, name: str) -> str:
    """Walk Slack's install flow as a browser does: the install page sets a state cookie, Slack sends
    the browser back with a code and that state. Returns the redirect's response body."""
    page = web.get("/slack/install")
    assert page.status_code == 200
    state = re.search(r"state=([\w-]+)", page.get_data(as_text=True))
    assert state is not None, "the install page links to Slack's authorize URL with a state"
    code = f"code-{team_id}"
    slack.add_installation(code, team_id, name, TOKENS[team_id])
    done = web.get(f"/slack/oauth_redirect?code={code}&state={state.group(1)}")
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_data(as_text=True)


@pytest.fixture
def installed(
    oauth_settings: Settings, engine: Engine, session_factory: sessionmaker[Session], slack: FakeSlack
) -> Installed:
    app = create_app(oauth_settings, engine=engine, clock=ManualClock(MONDAY))
    web = create_web_app(app).test_client()
    install(web, slack, FIRST, "First Company")
    install(web, slack, SECOND, "Second Company")
    return Installed(app, web, oauth_settings, session_factory, slack)


def test_the_install_flow_stores_each_workspace_token(
    oauth_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    web = create_web_app(create_app(oauth_settings, engine=engine)).test_client()
    install(web, slack, SECOND, "Second Company")
    tokens = TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings, token=token))
    assert tokens.installed_teams() == [SECOND]
    assert tokens.token_for(SECOND) == TOKENS[SECOND]
    assert tokens.token_for(FIRST) is None
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange["code"] == f"code-{SECOND}"


def test_a_state_is_good_for_one_install_only(oauth_settings: Settings, engine: Engine, slack: FakeSlack) -> None:
    web = create_web_app(create_app(oauth_settings, engine=engine)).test_client()
    page = web.get("/slack/install").get_data(as_text=True)
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None
    slack.add_installation("code-a", FIRST, "First Company", TOKENS[FIRST])
    assert web.get(f"/slack/oauth_redirect?code=code-a&state={state.group(1)}").status_code == 200
    slack.add_installation("code-b", SECOND, "Second Company", TOKENS[SECOND])
    replay = web.get(f"/slack/oauth_redirect?code=code-b&state={state.group(1)}")
    assert replay.status_code == 400
    assert TokenSource(oauth_settings, engine, lambda token: build_web_client(oauth_settings)).installed_teams() == [
        FIRST
    ]


def test_each_workspace_is_answered_with_its_own_token(installed: Installed) -> None:
    installed.requests(SECOND).app_home_opened("U0SECONDPERSON")
    [publish] = installed.slack.wait_for("views.publish", count=1)
    [call] = [c for c in installed.slack.calls if c.method == "views.publish"]
    assert call.token == TOKENS[SECOND]
    assert publish["user_id"] == "U0SECONDPERSON"


def test_a_workspace_that_never_installed_is_refused(installed: Installed) -> None:
    reply = installed.requests("T0STRANGER").command("/empathy", "help", user_id="U0STRANGER")
    assert reply.status_code == 200
    [answer] = [c for c in installed.slack.calls if c.method.startswith("response_url.")]
    assert answer.body["text"] == NOT_INSTALLED
    assert not [c for c in installed.slack.calls if c.method == "views.publish"]


# -- two workspaces, one database ------------------------------------------------------------------


def prefixed(prefix: str) -> dict[str, tuple[str, str | None]]:
    """The test organisation with every name prefixed, so Slack ids differ between workspaces."""
    return {prefix + name: (team, prefix + manager if manager else None) for name, (team, manager) in ORG.items()}


@pytest.fixture
def two_workspaces(installed: Installed) -> Installed:
    """Six closed weekly rounds in each workspace: everyone in the first answers 5, in the second 1."""
    workspaces: dict[str, Workspace] = {}
    with installed.session_factory.begin() as session:
        for team_id, prefix in ((FIRST, "a"), (SECOND, "b")):
            workspace = session.scalar(select(Workspace).where(Workspace.slack_team_id == team_id))
            if workspace is None:
                workspace = Workspace(slack_team_id=team_id, name=team_id)
                session.add(workspace)
                session.flush()
            for name in build_org(session, workspace, prefixed(prefix)):
                installed.slack.add_user(f"U0{name.upper()}", email=f"{name}@example.com", real_name=name.title())
            workspaces[prefix] = workspace
    for prefix, value in (("a", 5), ("b", 1)):
        for week in range(6):
            day = date(2026, 10, 19) + timedelta(weeks=week)
            run_round(installed.session_factory, workspaces[prefix], dict.fromkeys(prefixed(prefix), value), day)
    return installed


def test_two_workspaces_never_see_each_other(two_workspaces: Installed) -> None:
    installed, slack = two_workspaces, two_workspaces.slack
    jobs = {job.name: job for job in build_jobs(installed.settings, installed.session_factory)}
    clock = ManualClock(MONDAY)
    assert run_job(jobs["digest.weekly"], installed.session_factory, clock) == 6  # 3 managers in each
    run_job(jobs["outbox.dispatch"], installed.session_factory, clock)

    posts = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert len(posts) == 6
    for post in posts:
        channel = str(post.body["channel"])
        expected = TOKENS[FIRST] if channel.startswith("D0A") else TOKENS[SECOND]
        assert post.token == expected, f"{channel} was sent with the other workspace's token"
    first_text = str(slack.messages("D0ADANA")[0]["blocks"])
    second_text = str(slack.messages("D0BDANA")[0]["blocks"])
    assert "Amarcus" in first_text and "Bmarcus" not in first_text
    assert "Bmarcus" in second_text and "Amarcus" not in second_text
    # Everyone in the first workspace answered 5 and in the second 1 (on 1-5 and 0-10 items alike):
    # each digest holds only its own workspace's answers.
    assert "Engagement*: 67" in first_text and "Engagement*: 33" not in first_text
    assert "Engagement*: 33" in second_text and "Engagement*: 67" not in second_text

    installed.requests(SECOND).app_home_opened("U0BMARCUS")
    [home] = slack.wait_for("views.publish", count=1)
    assert "Bmarcus" in str(home["view"]["blocks"]) and "Amarcus" not in str(home["view"]["blocks"])
    assert [c.token for c in slack.calls if c.method == "views.publish"] == [TOKENS[SECOND]]


def test_suggestions_and_kudos_stay_in_their_workspace(two_workspaces: Installed) -> None:
    installed, slack = two_workspaces, two_workspaces.slack
    with installed.session_factory.begin() as session:
        for person in session.scalars(select(Person).where(Person.slack_user_id.in_(["U0ADANA", "U0BDANA"]))):
            session.add(
                RoleGrant(workspace_id=person.workspace_id, person_id=person.id, role=Role.HR, source=RoleSource.CSV)
            )
    first, second = installed.requests(FIRST), installed.requests(SECOND)

    values = {
        suggest_views.TEXT_BLOCK: {suggest_views.TEXT_INPUT: {"type": "plain_text_input", "value": "Quiet Fridays"}},
        suggest_views.CATEGORY_BLOCK: {
            suggest_views.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "culture"}}
        },
    }
    submitted = first.view_submission(suggest_views.SUGGEST_VIEW, values, user_id="U0AP1").get_json()
    assert submitted["response_action"] == "update"
    first_queue = first.command("/suggest", "queue", user_id="U0ADANA").get_json()["text"]
    second_queue = second.command("/suggest", "queue", user_id="U0BDANA").get_json()["text"]
    assert "Quiet Fridays" in first_queue
    assert "Quiet Fridays" not in second_queue and "queue is empty" in second_queue

    def kudos(requests: SlackRequests, text: str, user: str) -> str:
        """/kudos acks at once and answers through the response_url."""

        def replies() -> list[Call]:
            return [c for c in slack.calls if c.method.startswith("response_url.")]

        before = len(replies())
        assert requests.command("/kudos", text, user_id=user).status_code == 200
        deadline = time.monotonic() + 5
        while len(replies()) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        return str(replies()[-1].body["text"])

    assert "Thank you for noticing" in kudos(first, "<@U0AP2> for the release", "U0AP1")
    assert "I don't know <@U0AP2>" in kudos(second, "<@U0AP2> for the release", "U0BP1")
    assert "received 0" in kudos(second, "stats", "U0BP2")
    assert "received 1" in kudos(first, "stats", "U0AP2")

    run_job(
        {job.name: job for job in build_jobs(installed.settings, installed.session_factory)}["outbox.dispatch"],
        installed.session_factory,
        ManualClock(MONDAY),
    )
    kudos_dm = [c for c in slack.calls if c.method == "chat.postMessage" and c.body["channel"] == "D0AP2"]
    assert len(kudos_dm) == 1 and kudos_dm[0].token == TOKENS[FIRST]
