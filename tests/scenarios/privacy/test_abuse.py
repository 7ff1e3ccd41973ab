"""Abuse and bad input through the real app: fuzzed slash commands, modal values and button clicks; oversized
and malformed payloads; forged and replayed signatures; admin actions by non-admins.

Every fuzzed request must be answered (HTTP 200), must not reach the app's "unexpected error" path, and
nothing the bot sends may carry a broadcast (`<!channel>` and friends) that came from someone's text.
EMPATHY_FUZZ_EXAMPLES raises the number of examples (benchmarks/abuse.py reports a large run).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import AuditEntry, OutboxMessage
from tests.fakes.slack.api import FakeSlack
from tests.support.fuzzing import (
    action_elements,
    command_text,
    crashes,
    leaks,
    slack_text,
    slash_commands,
    view_state,
)
from tests.support.slack_requests import SlackRequests

EXAMPLES = int(os.environ.get("EMPATHY_FUZZ_EXAMPLES", "60"))
TRIED: Counter[str] = Counter()  # inputs sent, by kind: benchmarks/abuse.py reports them
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
USERS = st.sampled_from(["U0PRIYA", "U0ANA", "U0STRANGER"])


class Watch(logging.Handler):
    """Collects the app's log records while a fuzz run goes on."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def watch() -> Iterator[Watch]:
    handler = Watch()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def ephemeral_texts(slack: FakeSlack) -> list[str]:
    return [json.dumps(c.body) for c in slack.calls if c.method.startswith("response_url.")]


def settle(slack: FakeSlack, quiet: float = 0.5, longest: float = 15.0) -> None:
    """Wait until the app has stopped calling Slack: work behind acks finishes later on a busy machine,
    and what it sends belongs to this test, not to the next one."""
    deadline = time.monotonic() + longest
    seen = -1
    while time.monotonic() < deadline and len(slack.calls) != seen:
        seen = len(slack.calls)
        time.sleep(quiet)


def assert_clean(slack: FakeSlack, watch: Watch, replies: list[str]) -> None:
    assert crashes(watch.records) == []
    assert leaks(slack.calls, [*replies, *ephemeral_texts(slack)]) == []


@pytest.mark.parametrize("command", slash_commands())
def test_fuzzed_slash_commands_are_answered_without_crash_or_leak(
    people: None,
    slack_requests: SlackRequests,
    slack: FakeSlack,
    watch: Watch,
    command: str,
) -> None:
    replies: list[str] = []

    @FUZZ
    @given(text=command_text, user=USERS)
    def run(text: str, user: str) -> None:
        TRIED["slash command"] += 1
        response = slack_requests.command(command, text, user_id=user)
        assert response.status_code == 200, (command, text)
        replies.append(response.get_data(as_text=True))

    run()
    settle(slack)  # listeners that ack first finish their work behind the ack
    assert_clean(slack, watch, replies)


def open_modals(slack_requests: SlackRequests, slack: FakeSlack) -> list[dict[str, Any]]:
    """Every modal the commands open for HR and for an employee, as Slack received them."""
    for command in slash_commands():
        for text in ("", "settings", "values", "template", "new"):
            for user in ("U0PRIYA", "U0ANA"):
                slack_requests.command(command, text, user_id=user)
    settle(slack)
    views = [c.body["view"] for c in slack.calls if c.method in ("views.open", "views.push")]
    return list({v.get("callback_id"): v for v in views if isinstance(v, dict)}.values())


def test_fuzzed_modal_values_are_answered_without_crash_or_leak(
    people: None,
    slack_requests: SlackRequests,
    slack: FakeSlack,
    watch: Watch,
) -> None:
    modals = open_modals(slack_requests, slack)
    assert "pulse.settings_view" in {m.get("callback_id") for m in modals} or modals, "no modal opened at all"
    replies: list[str] = []

    @FUZZ
    @given(data=st.data(), user=USERS)
    def run(data: st.DataObject, user: str) -> None:
        TRIED["modal submission"] += 1
        view = data.draw(st.sampled_from(modals))
        metadata = data.draw(st.sampled_from([view.get("private_metadata", ""), "", "{not json", "12345"]))
        response = slack_requests.view_submission(
            view["callback_id"], view_state(data, view), user_id=user, private_metadata=metadata
        )
        assert response.status_code == 200, view["callback_id"]
        replies.append(response.get_data(as_text=True))

    run()
    settle(slack)
    assert_clean(slack, watch, replies)


def test_fuzzed_clicks_on_every_button_are_answered_without_crash_or_leak(
    people: None,
    slack_requests: SlackRequests,
    slack: FakeSlack,
    watch: Watch,
) -> None:
    for user in ("U0PRIYA", "U0ANA"):
        slack_requests.app_home_opened(user)
    open_modals(slack_requests, slack)
    elements = action_elements([c.body for c in slack.calls])
    assert elements, "the App Home and modals have buttons"
    replies: list[str] = []

    @FUZZ
    @given(data=st.data(), user=USERS)
    def run(data: st.DataObject, user: str) -> None:
        TRIED["button click"] += 1
        element = data.draw(st.sampled_from(elements))
        value = data.draw(st.sampled_from([str(element.get("value", "")), ""]) | slack_text)
        response = slack_requests.block_action(element["action_id"], value, user_id=user)
        assert response.status_code == 200, element["action_id"]
        replies.append(response.get_data(as_text=True))

    run()
    settle(slack)
    assert_clean(slack, watch, replies)


# -- payloads Slack would never send, and requests that are not from Slack --------------------------


def test_an_oversized_payload_is_refused_without_reaching_a_listener(
    people: None,
    slack_requests: SlackRequests,
    watch: Watch,
) -> None:
    response = slack_requests.command("/empathy", "config kudos-channel " + "x" * 2_000_000, user_id="U0PRIYA")
    assert response.status_code in (200, 413)
    assert crashes(watch.records) == []


@pytest.mark.parametrize("payload", ["{not json", "[]", "null", '{"type": "block_actions"}', '{"type": 42}'])
def test_malformed_interaction_payloads_are_refused_quietly(
    people: None,
    slack_requests: SlackRequests,
    watch: Watch,
    payload: str,
) -> None:
    response = slack_requests.post(urlencode({"payload": payload}), "application/x-www-form-urlencoded")
    assert response.status_code in (200, 400, 404)
    assert crashes(watch.records) == []


def test_forged_and_replayed_requests_are_401(
    people: None,
    slack_requests: SlackRequests,
    session_factory: sessionmaker[Session],
) -> None:
    forged = slack_requests.command(
        "/empathy", "config kudos-channel #kudos", user_id="U0PRIYA", signature="v0=" + "0" * 64
    )
    assert forged.status_code == 401
    old = int(time.time()) - 6 * 60
    replayed = slack_requests.command("/empathy", "config kudos-channel C0KUDOS", user_id="U0PRIYA", timestamp=old)
    assert replayed.status_code == 401
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def reply_text(acked: dict[str, Any] | None, slack: FakeSlack) -> str:
    """The ephemeral answer: in the ack itself, or (for listeners that ack first) through response_url."""
    if acked and acked.get("text"):
        assert acked["response_type"] == "ephemeral"
        return str(acked["text"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if later := ephemeral_texts(slack):
            return later[-1]
        time.sleep(0.02)
    raise AssertionError("no reply at all")


ADMIN_COMMANDS = [
    ("/empathy", "config kudos-channel C0KUDOS"),
    ("/empathy", "audit"),
    ("/pulse", "send"),
    ("/pulse", "settings"),
]


@pytest.mark.parametrize(("command", "text"), ADMIN_COMMANDS)
def test_non_admins_are_refused_every_admin_action(
    people: None,
    slack_requests: SlackRequests,
    slack: FakeSlack,
    session_factory: sessionmaker[Session],
    command: str,
    text: str,
) -> None:
    response = slack_requests.command(command, text, user_id="U0ANA")
    assert "HR" in reply_text(response.get_json(), slack)
    assert not [c for c in slack.calls if c.method in ("views.open", "chat.postMessage")]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
