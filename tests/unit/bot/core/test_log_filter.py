"""The redaction filter on its own: payload-shaped records are withheld, operational ones pass."""

from __future__ import annotations

import logging

import pytest

from bot.core.logs import PAYLOAD_LOGGERS, RedactPayloads, guard_loggers


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("Sending a request - json_body: %s", ({"channel": "D0ANA", "blocks": [{"text": "my answer"}]},)),
        ("body: %s", ('{"text": "hello", "blocks": []}',)),
        ("token %s", ("xoxb-1234-abcd",)),
        ("refreshed with xoxe-1-abcdef and more", ()),
        ("Unhandled request (%s)", ({"type": "view_submission", "view": {"state": {"values": {}}}},)),
    ],
)
def test_payload_shaped_records_are_withheld_by_the_filter(message: str, args: tuple[object, ...]) -> None:
    record = logging.LogRecord("slack_bolt.App", logging.WARNING, __file__, 1, message, args, None)
    assert RedactPayloads().filter(record)
    said = record.getMessage()
    assert "withheld" in said and "xox" not in said.replace("xox…", "")
    assert "my answer" not in said and "hello" not in said and "view_submission" not in said


def test_plain_operational_records_pass_untouched() -> None:
    record = logging.LogRecord(
        "bot.delivery.outbox", logging.WARNING, __file__, 1, "outbox message %s failed: %s", (7, "x"), None
    )
    assert RedactPayloads().filter(record)
    assert record.getMessage() == "outbox message 7 failed: x"


def test_the_bots_own_error_frames_stay_readable() -> None:
    frames = '  File "handlers/slack/render/pulse.py", line 82\n    return {"text": greeting, "blocks": blocks}'
    record = logging.LogRecord(
        "handlers.slack.app",
        logging.ERROR,
        __file__,
        1,
        "unexpected %s while handling %s\n%s",
        ("KeyError", "x", frames),
        None,
    )
    assert RedactPayloads().filter(record)
    assert record.getMessage().endswith(frames)


def test_payload_loggers_stay_capped_under_a_debug_root() -> None:
    root = logging.getLogger()
    was = root.level
    root.setLevel(logging.DEBUG)
    try:
        guard_loggers()
        for name in PAYLOAD_LOGGERS:
            logger = logging.getLogger(name)
            assert not logger.isEnabledFor(logging.DEBUG), name
            assert any(isinstance(f, RedactPayloads) for f in logger.filters), name
    finally:
        root.setLevel(was)
