"""The real app on a manual clock, signed requests through Flask, and the outbox delivered to the
fake Slack API: what a feature's tests drive."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from slack_bolt import App
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.crypto import SecretBox
from bot.core.models import Person, Role, RoleGrant, RoleSource, Workspace
from bot.core.settings import Settings, load_settings
from bot.delivery.outbox import OutboxDispatcher
from bot.delivery.scheduler import run_job
from bot.jobs import build_jobs
from handlers.slack.app import create_app
from handlers.slack.client import build_web_client
from handlers.slack.platform import SlackPlatform
from handlers.slack.sender import SlackSender
from handlers.slack.web import create_web_app
from tests.conftest import SIGNING_SECRET, TEAM_ID, make_env
from tests.fakes.slack.api import FakeSlack
from tests.support.people import slack_account, slack_is
from tests.support.slack_requests import SlackRequests


@dataclass
class Harness:
    clock: ManualClock
    app: App
    requests: SlackRequests
    session_factory: sessionmaker[Session]
    settings: Settings
    slack: FakeSlack

    def dispatch(self) -> int:
        client = build_web_client(self.settings, for_outbox=True)
        dispatcher = OutboxDispatcher(
            self.session_factory,
            SlackSender(client, rate_per_minute=100_000, burst=1000),
            self.clock,
            box=SecretBox(self.settings.secret_key),
        )
        return dispatcher.run_once(time_budget=10).sent

    def job(self, name: str) -> Any:
        jobs = {
            j.name: j
            for j in build_jobs(
                self.settings, self.session_factory, [SlackPlatform(self.settings, self.session_factory)]
            )
        }
        return run_job(jobs[name], self.session_factory, self.clock)

    def command(self, command: str, text: str, user: str = "U0ANA") -> dict[str, Any]:
        response = self.requests.command(command, text, user_id=user)
        assert response.status_code == 200
        return response.get_json() if response.data else {}

    def submit(
        self, user: str, callback_id: str, values: dict[str, Any], *, metadata: str = "", view_id: str | None = None
    ) -> dict[str, Any]:
        payload = {
            "type": "view_submission",
            "user": {"id": user, "team_id": TEAM_ID},
            "trigger_id": f"{time.monotonic_ns()}.trigger",
            "view": {
                "id": view_id or f"V{time.monotonic_ns()}",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {"values": values},
            },
        }
        response = self.requests.interaction(payload)
        assert response.status_code == 200
        return response.get_json() if response.data else {}

    def click(self, user: str, action_id: str, value: str = "", channel: str = "D0HOME", ts: str = "1.0") -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM_ID},
            "trigger_id": f"{time.monotonic_ns()}.trigger",
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "channel": {"id": channel},
            "response_url": self.requests.response_url(),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "a", "value": value}],
        }
        assert self.requests.interaction(payload).status_code == 200

    def replies(self) -> list[dict[str, Any]]:
        """What the app said through response_urls, in order."""
        return [c.body for c in self.slack.calls if c.method.startswith("response_url.")]

    def wait_reply(self, count: int) -> dict[str, Any]:
        """The `count`-th response_url reply, waiting for listeners that answer after their ack (up to
        30 s: it returns at the reply, and on a loaded machine beside a second xdist worker 5 s was not
        always enough)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(self.replies()) >= count:
                return self.replies()[count - 1]
            time.sleep(0.02)
        raise AssertionError("no reply through response_url")

    def event(self, event: dict[str, Any]) -> None:
        assert self.requests.event(event).status_code == 200

    def dm(self, user_id: str) -> list[dict[str, Any]]:
        """Messages in the fake Slack's DM with `user_id` (U0ANA's is D0ANA)."""
        return self.slack.messages("D" + user_id[1:])

    def person(self, slack_id: str) -> Person:
        with self.session_factory() as session:
            found = session.scalar(select(Person).where(slack_is(slack_id)))
            assert found is not None
            return found


def make_harness(
    slack: FakeSlack,
    db_url: str,
    engine: Engine,
    session_factory: sessionmaker[Session],
    *,
    people: list[tuple[str, str]],
    hr: tuple[str, ...] = (),
    now: datetime,
    env: dict[str, str] | None = None,
) -> Harness:
    """The app with `people` (Slack id, name) in the directory and in the fake Slack; `hr` get the HR role."""
    settings = load_settings(make_env(slack, db_url, **(env or {})))
    with session_factory.begin() as session:
        workspace = session.scalar(select(Workspace)) or Workspace(external_id=TEAM_ID, name="Test")
        session.add(workspace)
        session.flush()
        for slack_id, name in people:
            email = f"{slack_id.lower()}@example.com"
            slack.add_user(slack_id, email=email, real_name=name)
            person = Person(workspace_id=workspace.id, accounts=slack_account(slack_id), email=email, name=name)
            session.add(person)
            session.flush()
            if slack_id in hr:
                session.add(
                    RoleGrant(workspace_id=workspace.id, person_id=person.id, role=Role.HR, source=RoleSource.CSV)
                )
    return start_app(settings, engine, session_factory, slack, now)


def start_app(
    settings: Settings, engine: Engine, session_factory: sessionmaker[Session], slack: FakeSlack, now: datetime
) -> Harness:
    """The real app on a manual clock at `now`, behind Flask, for a directory the caller has seeded."""
    clock = ManualClock(now)
    app = create_app(settings, engine=engine, clock=clock)
    web: FlaskClient = create_web_app(app).test_client()
    requests = SlackRequests(web, SIGNING_SECRET, team_id=TEAM_ID, response_base=slack.url)
    return Harness(clock, app, requests, session_factory, settings, slack)
