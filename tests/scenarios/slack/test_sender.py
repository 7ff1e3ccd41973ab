"""The Slack `Sender`: Slack's answers become the port's neutral errors, through the real WebClient
against the fake Slack API (the outbox's own client: no in-process retries)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient

from bot.core.settings import Settings
from bot.delivery.ports import FileUpload, Sender, SendFailed, Sent, UndeliverableError, is_transport_reason
from handlers.slack.client import build_web_client
from handlers.slack.sender import SlackSender
from tests.conftest import TEAM_ID
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.slack.test_outbox import FakeTime

CHANNEL = "C0KUDOS"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sender(settings: Settings, fake_time: FakeTime) -> SlackSender:
    return SlackSender(
        build_web_client(settings, for_outbox=True), rate_per_minute=60, burst=5, monotonic=fake_time.monotonic
    )


def posted(slack: FakeSlack) -> list[dict[str, Any]]:
    return [c.body for c in slack.calls if c.method == "chat.postMessage" and c.status == 200]


def refused(sender: SlackSender, **message: Any) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        sender.post(TEAM_ID, CHANNEL, message or {"text": "hello"}, outbox_id=7)
    return caught.value


# -- what it sends ----------------------------------------------------------------------------------


def test_it_implements_the_whole_port(sender: SlackSender) -> None:
    assert isinstance(sender, Sender) and sender.platform == "slack"


def test_a_post_is_marked_with_its_outbox_id_and_found_again_after_a_crash(
    sender: SlackSender, slack: FakeSlack
) -> None:
    sent = sender.post(TEAM_ID, CHANNEL, {"text": "hello", "blocks": []}, outbox_id=41)

    [message] = slack.messages(CHANNEL)
    assert sent == Sent(CHANNEL, message["ts"])
    assert message["metadata"] == {"event_type": "empathy_outbox", "event_payload": {"outbox_id": "41"}}
    assert sender.already_sent(TEAM_ID, CHANNEL, 41) == sent
    assert sender.already_sent(TEAM_ID, CHANNEL, 42) is None  # another row's message is not this one's
    assert sender.already_sent(TEAM_ID, "C0EMPTY", 41) is None


def test_a_dm_is_opened_an_update_replaces_and_a_file_is_shared(sender: SlackSender, slack: FakeSlack) -> None:
    slack.add_user("U0ANA")
    channel = sender.open_direct(TEAM_ID, "U0ANA")
    assert channel == "D0ANA"

    first = sender.post(TEAM_ID, channel, {"text": "before"}, outbox_id=1)
    assert sender.update(TEAM_ID, channel, first.ref, {"text": "after"}) == first
    assert [m["text"] for m in slack.messages(channel)] == ["after"]

    shared = sender.upload(TEAM_ID, channel, FileUpload(b"\x89PNG chart", "chart.png", "Week 48", "A bar chart"))
    assert shared == Sent(channel, "")
    [upload] = slack.files()
    assert (upload["title"], upload["alt_txt"], upload["channel"], upload["content"]) == (
        "Week 48",
        "A bar chart",
        channel,
        b"\x89PNG chart",
    )


def test_with_multi_workspace_installs_each_workspace_uses_its_own_token_and_an_uninstalled_one_gets_nothing(
    settings: Settings, slack: FakeSlack
) -> None:
    tokens = {TEAM_ID: "xoxb-first-workspace"}
    sender = SlackSender(build_web_client(settings, for_outbox=True), tokens=tokens.get)
    sender.post(TEAM_ID, CHANNEL, {"text": "hello"}, outbox_id=1)
    assert [c.token for c in slack.calls] == ["xoxb-first-workspace"]

    with pytest.raises(UndeliverableError, match="no longer installed"):
        sender.post("T0GONE", CHANNEL, {"text": "hello"}, outbox_id=2)
    with pytest.raises(UndeliverableError):
        sender.already_sent("T0GONE", CHANNEL, 2)
    assert len(slack.calls) == 1


# -- Slack's errors, made neutral -------------------------------------------------------------------


def test_a_429_is_slow_down_for_retry_after_and_holds_the_whole_workspace(
    sender: SlackSender, slack: FakeSlack, fake_time: FakeTime
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    error = refused(sender)
    assert (error.reason, error.retry_after, error.permanent, error.maybe_sent) == ("ratelimited", 7.0, False, False)
    assert posted(slack) == []

    pace = sender.pace(TEAM_ID)
    assert pace is sender.pace(TEAM_ID)  # one pace per workspace, so the queue can skip it while it waits
    assert not pace.try_take() and pace.wait_time() == pytest.approx(7 + 1)  # Retry-After, then one token
    assert sender.pace("T0OTHER").try_take()  # another workspace is not held
    fake_time.sleep(8)
    assert pace.try_take()


def test_a_429_opening_a_dm_holds_the_workspace_too(sender: SlackSender, slack: FakeSlack) -> None:
    slack.add_user("U0ANA")
    slack.fail_next("conversations.open", status=429, retry_after=3)
    with pytest.raises(SendFailed) as caught:
        sender.open_direct(TEAM_ID, "U0ANA")
    assert caught.value.retry_after == 3.0
    assert sender.pace(TEAM_ID).wait_time() >= 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_retried_and_may_have_been_posted(sender: SlackSender, slack: FakeSlack, status: int) -> None:
    slack.fail_next("chat.postMessage", status=status)
    error = refused(sender)
    assert (error.reason, error.permanent, error.retry_after, error.maybe_sent) == (
        f"slack http {status}",
        False,
        None,
        True,
    )
    assert sender.pace(TEAM_ID).try_take()  # only a 429 holds the workspace


def test_a_5xx_with_a_page_instead_of_json_is_still_a_5xx(sender: SlackSender, slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", status=502, text_body="<html>Bad Gateway</html>")
    error = refused(sender)
    assert (error.reason, error.maybe_sent) == ("slack http 502", True)
    assert "Bad Gateway" not in str(error)


@pytest.mark.parametrize(
    "code",
    ["channel_not_found", "not_in_channel", "is_archived", "account_inactive", "msg_too_long", "invalid_blocks"],
)
def test_errors_no_retry_can_fix_are_permanent(sender: SlackSender, slack: FakeSlack, code: str) -> None:
    slack.error_next("chat.postMessage", code)
    error = refused(sender)
    assert (error.reason, error.permanent, error.retry_after, error.maybe_sent) == (code, True, None, False)
    # A reason about the recipient, not about the road: a sealed row withholds it.
    assert not is_transport_reason(error.reason)


def test_a_person_who_left_is_permanent_when_their_dm_is_opened(sender: SlackSender, slack: FakeSlack) -> None:
    slack.add_user("U0GONE", deleted=True)
    with pytest.raises(SendFailed) as caught:
        sender.open_direct(TEAM_ID, "U0GONE")
    assert (caught.value.reason, caught.value.permanent) == ("user_disabled", True)


def test_an_unknown_ok_false_is_retried_and_was_not_posted(sender: SlackSender, slack: FakeSlack) -> None:
    slack.error_next("chat.postMessage", "fatal_error")
    error = refused(sender)
    assert (error.reason, error.permanent, error.maybe_sent) == ("fatal_error", False, False)


def test_a_connection_lost_after_slack_stored_the_post_is_found_in_the_history(
    sender: SlackSender, slack: FakeSlack
) -> None:
    slack.drop_after("chat.postMessage")
    error = refused(sender)
    assert error.reason.startswith("connection: ") and error.maybe_sent and not error.permanent
    [message] = slack.messages(CHANNEL)  # Slack has it although we never heard back
    assert sender.already_sent(TEAM_ID, CHANNEL, 7) == Sent(CHANNEL, message["ts"])


def test_a_connection_refused_is_a_connection_error(settings: Settings) -> None:
    nowhere = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", retry_handlers=[], timeout=2)
    with pytest.raises(SendFailed) as caught:
        SlackSender(nowhere).post(TEAM_ID, CHANNEL, {"text": "hello"}, outbox_id=1)
    assert caught.value.reason.startswith("connection: ") and caught.value.maybe_sent


def test_when_the_history_cannot_be_read_the_sender_says_so(sender: SlackSender, slack: FakeSlack) -> None:
    sender.post(TEAM_ID, CHANNEL, {"text": "hello"}, outbox_id=7)
    slack.error_next("conversations.history", "missing_scope")
    with pytest.raises(SendFailed) as caught:
        sender.already_sent(TEAM_ID, CHANNEL, 7)
    assert caught.value.code == "missing_scope"
    slack.fail_next("conversations.history", status=503)
    with pytest.raises(SendFailed) as caught:
        sender.already_sent(TEAM_ID, CHANNEL, 7)
    assert caught.value.reason == "slack http 503"


def test_the_outboxs_sender_paces_under_the_limit_and_opens_dms_on_a_pace_of_their_own(
    settings: Settings, slack: FakeSlack, fake_time: FakeTime
) -> None:
    sender = SlackSender(
        build_web_client(settings, for_outbox=True),
        rate_per_minute=60,
        burst=4,
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        headroom=True,  # as handlers/slack/platform.py builds it
    )
    pace = sender.pace(TEAM_ID)
    assert pace.rate * 60 < 60 and pace.burst == 2  # under the limit, half the burst saved up
    for n in range(4):
        slack.add_user(f"U0P{n}")
        sender.open_direct(TEAM_ID, f"U0P{n}")
    # Two opens from the saved-up tokens, two waited for: conversations.open's own limit, paced the same way.
    assert sum(fake_time.slept) == pytest.approx(2 / pace.rate)
    assert pace.try_take() and pace.try_take()  # the posts' pace was not spent on the opens

    slack.fail_next("conversations.open", status=429, retry_after=3)
    with pytest.raises(SendFailed):
        sender.open_direct(TEAM_ID, "U0P0")
    # Held for 3 s: the next open is not waited for in place, its row goes back to the queue at no attempt.
    with pytest.raises(SendFailed) as held:
        sender.open_direct(TEAM_ID, "U0P1")
    assert held.value.retry_after is not None and held.value.retry_after >= 3
