"""Microsoft's refusals as the outbox's neutral errors (`handlers.teams.sender.classify`), with the bodies
the Bot Connector sends, and Microsoft's per-conversation limits as sliding windows."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.delivery.ports import RATE_LIMITED, may_have_been_sent
from handlers.teams.sender import (
    BLOCKED,
    DEFAULT_RETRY_AFTER,
    FORBIDDEN,
    GONE,
    NOT_INSTALLED,
    ConversationLimits,
    classify,
)


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def test_a_429_asks_to_wait_its_retry_after_or_a_default_without_one() -> None:
    assert classify(answer(429, headers={"Retry-After": "12"})).retry_after == 12
    assert classify(answer(429)).retry_after == DEFAULT_RETRY_AFTER
    assert classify(answer(429)).reason == RATE_LIMITED


def test_message_writes_blocked_inside_the_json_string_of_message_is_a_permanent_block() -> None:
    inner = {"subCode": "MessageWritesBlocked", "details": "Thread is blocked from message writes."}
    failed = classify(answer(403, {"errorCode": 209, "message": json.dumps(inner)}))
    assert failed.permanent and failed.reason == BLOCKED


def test_not_part_of_the_roster_means_not_installed() -> None:
    body = {
        "error": {"code": "BotNotInConversationRoster", "message": "The bot is not part of the conversation roster."}
    }
    failed = classify(answer(403, body))
    assert failed.permanent and failed.reason == NOT_INSTALLED
    assert classify(answer(403, {"error": {"code": "Forbidden"}}), creating=True).reason == NOT_INSTALLED
    assert classify(answer(403, {"error": {"code": "Forbidden"}})).reason == FORBIDDEN


@pytest.mark.parametrize("status", [412, 500, 502, 503, 504])
def test_412_and_5xx_are_retried(status: int) -> None:
    failed = classify(answer(status))
    assert not failed.permanent and failed.retry_after is None
    assert failed.reason == f"teams http {status}"


@pytest.mark.parametrize("status", [412, 502, 503, 504])
def test_412_and_5xx_may_have_stored_the_message(status: int) -> None:
    assert classify(answer(status)).maybe_sent and may_have_been_sent(classify(answer(status)).reason)


def test_a_refusal_about_the_person_is_not_a_maybe_sent() -> None:
    assert not classify(answer(403)).maybe_sent and not classify(answer(429)).maybe_sent


def test_a_missing_conversation_is_permanent() -> None:
    assert classify(answer(404)).permanent and classify(answer(404)).reason == GONE


def test_conversation_limits_are_sliding_windows() -> None:
    now = [0.0]
    limits = ConversationLimits(lambda: now[0])
    for _ in range(7):
        assert limits.wait_time("19:c") == 0
        limits.record("19:c")
    assert limits.wait_time("19:c") == pytest.approx(1.0), "7 in 1 s"
    assert limits.wait_time("a:other") == 0, "per conversation"
    now[0] = 1.0
    limits.record("19:c")
    assert limits.wait_time("19:c") == pytest.approx(1.0), "8 in 2 s: wait until the first is 2 s old"


def test_sixty_in_thirty_seconds_make_the_next_wait_for_the_first_to_age_out() -> None:
    now = [0.0]
    limits = ConversationLimits(lambda: now[0])
    for n in range(60):  # three a second: inside the 1 s and 2 s windows
        now[0] = n / 3
        assert limits.wait_time("19:c") == 0
        limits.record("19:c")
    now[0] = 20.0
    assert limits.wait_time("19:c") == pytest.approx(10.0), "the first send (t=0) leaves the 30 s window at t=30"
