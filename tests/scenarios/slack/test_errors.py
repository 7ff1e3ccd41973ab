"""The global error handler: known errors become kind ephemeral replies; nothing a person typed is logged."""

from __future__ import annotations

import logging
import time

import pytest
from slack_bolt import Ack, App
from sqlalchemy.exc import OperationalError

from handlers.slack.app import APOLOGY, DATABASE_DOWN, UserFacingError
from tests.fakes.slack.api import FakeSlack
from tests.support.slack_requests import SlackRequests

SECRET_WORDS = "my manager makes me cry"


@pytest.fixture
def failing_app(bolt_app: App) -> App:
    def fails(ack: Ack, command: dict) -> None:
        ack()
        kind = command["text"].split()[0]
        if kind == "kind":
            raise UserFacingError("That round has closed, so your answer wasn't changed. The next one opens Monday.")
        if kind == "db":
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        raise RuntimeError(f"unexpected: {command['text']}")

    bolt_app.command("/boom")(fails)
    return bolt_app


def reply_to(slack: FakeSlack) -> dict:
    calls = [c for c in slack.calls if c.method.startswith("response_url.")]
    assert calls, "no reply was sent to the response_url"
    return calls[-1].body


def wait_for_reply(slack: FakeSlack) -> dict:
    for _ in range(100):
        if any(c.method.startswith("response_url.") for c in slack.calls):
            return reply_to(slack)
        time.sleep(0.05)
    return reply_to(slack)


def test_a_user_facing_error_is_shown_as_written(
    failing_app: App, slack_requests: SlackRequests, slack: FakeSlack
) -> None:
    assert slack_requests.command("/boom", "kind").status_code == 200
    reply = wait_for_reply(slack)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("That round has closed")


def test_a_database_outage_says_try_again(failing_app: App, slack_requests: SlackRequests, slack: FakeSlack) -> None:
    slack_requests.command("/boom", "db")
    assert wait_for_reply(slack)["text"] == DATABASE_DOWN


def test_an_unexpected_error_apologises_and_logs_no_user_content(
    failing_app: App, slack_requests: SlackRequests, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_requests.command("/boom", f"other {SECRET_WORDS}")
    assert wait_for_reply(slack)["text"] == APOLOGY
    assert "unexpected RuntimeError while handling command /boom" in caplog.text
    assert SECRET_WORDS not in caplog.text
