"""No log level may log what people typed or chose: with LOG_LEVEL=DEBUG, a pulse answer, a comment, a
suggestion and a kudos go through the real app, WebClient, outbox and fake Slack, and every record
that reached the root logger is searched for the words, the chosen label and the tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.core.logs import configure_logging
from handlers.slack.render import suggestions as suggest_views
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.scenarios.pulse.test_pulse import (  # noqa: F401  (`pulse` is the fixture)
    Pulse,
    answer_buttons,
    answers,
    eventually,
    open_and_deliver,
    pulse,
    wait_for_update,
)

COMMENT = "Psst my manager shouts at standups"
SUGGESTION = "Secretly please stop the Friday layoffs rumour"
KUDOS = "for the kindest incident review ever written"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record as any handler could render it: message, arguments, extras and exception text."""
    handler = logging.Formatter("%(name)s %(message)s")
    parts = []
    for record in caplog.records:
        parts.append(handler.format(record))
        parts.append(repr(record.args))
        parts.append(repr({k: v for k, v in record.__dict__.items() if k not in ("args", "msg", "exc_info")}))
    return "\n".join(parts)


def test_debug_logs_hold_no_answers_texts_or_tokens(pulse: Pulse, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)  # the root logger, as LOG_LEVEL=DEBUG sets it
    configure_logging("DEBUG")
    logging.getLogger("bot.test").debug("capture works")
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    rows = answer_buttons(message)
    chosen = rows[0][-2] if rows[0][-2]["type"] == "button" else rows[0][0]
    label = chosen["text"]["text"]
    pulse.click("U0ANA", chosen, message)
    wait_for_update(pulse, 1)
    eventually(lambda: assert_count(len(answers(pulse)), 1))

    comment = next(e for e in rows[1] if e["action_id"] == "pulse.comment")
    pulse.click("U0ANA", comment, message)
    view = pulse.slack.wait_for("views.open")[0]["view"]
    pulse.requests.view_submission(
        "pulse.comment_view",
        {"comment": {"comment": {"type": "plain_text_input", "value": COMMENT}}},
        user_id="U0ANA",
        private_metadata=view["private_metadata"],
    )
    wait_for_update(pulse, 2)

    submission = {
        suggest_views.TEXT_BLOCK: {suggest_views.TEXT_INPUT: {"type": "plain_text_input", "value": SUGGESTION}},
        suggest_views.CATEGORY_BLOCK: {
            suggest_views.CATEGORY_INPUT: {"type": "static_select", "selected_option": {"value": "culture"}}
        },
    }
    assert pulse.submit("U0CHEN", suggest_views.SUGGEST_VIEW, submission)["response_action"] == "update"
    pulse.command("/kudos", f"<@U0IRIS> {KUDOS}", user="U0CHEN")
    pulse.wait_reply(1)
    pulse.clock.advance(timedelta(hours=1))
    pulse.job("suggestions.tend")
    pulse.dispatch()

    # The scenario happened: the words are in Slack...
    sent = repr(pulse.slack.calls)
    assert SUGGESTION in sent and KUDOS in sent and COMMENT in sent
    # ...and nowhere in the logs, at any level.
    logged = everything_logged(caplog)
    assert "capture works" in logged, "the capture itself must see DEBUG records from the bot"
    for secret in (COMMENT, SUGGESTION, KUDOS, BOT_TOKEN, SIGNING_SECRET, "Psst", "layoffs", "kindest"):
        assert secret not in logged, f"{secret!r} reached the logs"
    assert f'"{label}"' not in logged and f"'{label}'" not in logged, f"the chosen answer {label!r} was logged"
    assert chosen["value"] not in logged, "the chosen answer's value was logged"


def assert_count(found: int, expected: int) -> None:
    assert found == expected
