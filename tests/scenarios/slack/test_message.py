"""Neutral messages: the JSON round trip, the Slack renderer's escaping and limits, and the outbox
sending both payload versions (neutral rows rendered at send time; rows queued before as they were)."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.crypto import SecretBox
from bot.core.message import (
    Actions,
    Button,
    ChannelLink,
    Chart,
    Choice,
    Divider,
    Heading,
    Literal,
    Mention,
    Message,
    Note,
    Option,
    PersonPicker,
    Section,
    Text,
    UnreadableMessage,
    outbox_payload,
    payload_with_first,
    quoted,
    text,
)
from bot.core.models import OutboxMessage, OutboxState, Person, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import OutboxDispatcher, enqueue, enqueue_sealed
from handlers.slack.client import build_web_client
from handlers.slack.render.message import render, render_payload
from handlers.slack.sender import SlackSender
from tests.fakes.slack.api import FakeSlack
from tests.support.paths import ROOT
from tests.support.people import slack_account

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EVIL = "<!channel> & <@U0EVIL> <https://evil.example|click>"


def every_kind() -> Message:
    return Message(
        text("Hi ", Literal(EVIL), limit=40),
        (
            Heading("A title"),
            Section(text("*Bold* ", Mention("U0ANA"), " in ", ChannelLink("C0KUDOS")), block_id="s.1"),
            Section(quoted("two\nlines"), button=Button("Go", "x.go", "1", "primary")),
            Divider(),
            Note(text("small print")),
            Actions(
                (
                    Button("Skip", "x.skip", "2"),
                    Choice("x.pick", (Option("One", "1"), Option("Two", "2")), "Choose…", selected="2"),
                    PersonPicker("x.who", "Pick someone"),
                ),
                block_id="a.1",
            ),
        ),
    )


def test_a_message_survives_its_json_round_trip_exactly() -> None:
    message = every_kind()
    stored = json.loads(json.dumps(message.to_json()))
    assert Message.from_json(stored) == message
    chart = Message(text("alt"), (Chart({"kind": "trend", "dates": []}, "t.png", "Trend", "alt"),))
    assert Message.from_json(json.loads(json.dumps(chart.to_json()))) == chart


def test_unknown_kinds_are_refused_rather_than_dropped() -> None:
    with pytest.raises(UnreadableMessage, match="unknown block kind"):
        Message.from_json({"summary": ["x"], "blocks": [{"kind": "poll"}]})
    with pytest.raises(UnreadableMessage, match="unknown text part"):
        Text.from_json([{"bold": "x"}])


def test_slack_escapes_what_people_typed_and_keeps_our_markup() -> None:
    rendered = render(every_kind())
    # The summary: escaped, then cut at its limit.
    assert rendered["text"] == "Hi &lt;!channel&gt; &amp; &lt;@U0EVIL&gt; "[:40]
    assert "<!channel>" not in json.dumps(rendered) and "<https://evil" not in json.dumps(rendered)
    header, first, second, divider, note, actions = rendered["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "A title", "emoji": True}}
    assert first["text"]["text"] == "*Bold* <@U0ANA> in <#C0KUDOS>" and first["block_id"] == "s.1"
    assert second["text"]["text"] == "> two\n> lines" and second["accessory"]["style"] == "primary"
    assert divider == {"type": "divider"} and note["type"] == "context"
    button, choice, picker = actions["elements"]
    assert button["action_id"] == "x.skip" and "style" not in button
    assert choice["initial_option"] == choice["options"][1] and picker["type"] == "users_select"


def test_slack_limits_are_applied_by_the_renderer() -> None:
    long = Message(text("x"), (Section(text(Literal("y" * 5000))), Heading("h" * 200)))
    section, heading = render(long)["blocks"]
    assert len(section["text"]["text"]) == 3000 and len(heading["text"]["text"]) == 150
    button = render(Message(text("x"), (Actions((Button("b" * 90, "a", "v" * 2500),)),)))["blocks"][0]
    assert len(button["elements"][0]["text"]["text"]) == 75 and len(button["elements"][0]["value"]) == 2000


def test_a_chart_message_becomes_the_outbox_upload_instruction() -> None:
    chart = Chart({"kind": "trend"}, "team-trend.png", "Trend", "Line chart: …")
    assert render(Message(text("Line chart: …"), (chart,))) == {
        "text": "Line chart: …",
        "upload": {
            "chart": {"kind": "trend"},
            "filename": "team-trend.png",
            "title": "Trend",
            "alt_text": "Line chart: …",
        },
    }
    with pytest.raises(ValueError):
        render(Message(text("x"), (chart, Divider())))


def test_payload_versions() -> None:
    message = Message(text("hello"), (Section(text("hello")),))
    assert render_payload(outbox_payload(message)) == render(message)
    assert render_payload(outbox_payload(message, replaces="1.2", in_thread="0.9")) == {
        **render(message),
        "update_ts": "1.2",
        "thread_ts": "0.9",
    }
    queued_before = {"text": "old", "blocks": [{"type": "divider"}], "update_ts": "3.4"}
    assert render_payload(queued_before) == queued_before


def test_a_neutral_payload_without_text_is_refused_like_any_other(session: Session, workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="needs 'text'"):
        enqueue(session, workspace.id, "k", outbox_payload(Message(Text())), channel_id="C1", now=NOW)


# -- through the real dispatcher -----------------------------------------------------------------


def _dispatch(session_factory: sessionmaker[Session], settings: Settings) -> int:
    client = build_web_client(settings, for_outbox=True)
    dispatcher = OutboxDispatcher(
        session_factory,
        SlackSender(client, rate_per_minute=100_000, burst=1000),
        ManualClock(NOW),
        box=SecretBox(settings.secret_key),
    )
    return dispatcher.run_once(time_budget=10).sent


def _sent(slack: FakeSlack, method: str = "chat.postMessage") -> list[dict[str, Any]]:
    return [{k: v for k, v in b.items() if k not in ("metadata", "token")} for b in slack.calls_to(method)]


def test_rows_of_both_versions_send_the_same_slack_message(
    session_factory: sessionmaker[Session], workspace: Workspace, settings: Settings, slack: FakeSlack
) -> None:
    message = every_kind()
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "new", outbox_payload(message), channel_id="C0NEW", now=NOW)
        # A row the previous version queued: chat.postMessage's arguments, as they are in the database.
        enqueue(session, workspace.id, "old", render(message), channel_id="C0OLD", now=NOW)
        stored = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == "new"))
        assert stored is not None and stored.payload["v"] == 1 and "blocks" not in stored.payload
    assert _dispatch(session_factory, settings) == 2
    new, old = sorted(_sent(slack), key=lambda b: b["channel"])
    assert {**new, "channel": "-"} == {**old, "channel": "-"}
    assert new == {"channel": "C0NEW", **render(message)}


def test_a_neutral_update_and_a_sealed_neutral_dm_send(
    session_factory: sessionmaker[Session], workspace: Workspace, settings: Settings, slack: FakeSlack
) -> None:
    slack.add_user("U0ANA", email="ana@example.com", real_name="Ana")
    first = Message(text("open"), (Section(text("open")),))
    message = Message(text("closed ", Literal("<b>")), (Section(text("closed")),))
    with session_factory.begin() as session:
        enqueue(session, workspace.id, "p", outbox_payload(first), channel_id="C0PULSE", now=NOW)
    assert _dispatch(session_factory, settings) == 1
    (posted,) = slack.messages("C0PULSE")
    with session_factory.begin() as session:
        ana = Person(workspace_id=workspace.id, accounts=slack_account("U0ANA"), email="ana@example.com", name="Ana")
        session.add(ana)
        session.flush()
        replaces = outbox_payload(message, replaces=posted["ts"])
        enqueue(session, workspace.id, "u", replaces, channel_id="C0PULSE", now=NOW)
        row = enqueue_sealed(
            session, workspace.id, "s", outbox_payload(message), person_id=ana.id, box=SecretBox(settings.secret_key),
            due_at=NOW,
        )  # fmt: skip
        assert "closed" not in json.dumps(row.payload)  # sealed: the neutral message is inside the seal
    assert _dispatch(session_factory, settings) == 2
    assert _sent(slack, "chat.update") == [{"channel": "C0PULSE", "ts": posted["ts"], **render(message)}]
    assert slack.messages("C0PULSE")[0]["text"] == "closed &lt;b&gt;"
    dm = _sent(slack)[-1]
    assert dm == {"channel": dm["channel"], **render(message)} and dm["channel"].startswith("D")
    with session_factory() as session:
        assert {r.state for r in session.scalars(select(OutboxMessage))} == {OutboxState.SENT.value}


def test_a_row_this_version_cannot_read_waits_for_a_newer_dispatcher_and_blocks_nothing(
    session_factory: sessionmaker[Session], workspace: Workspace, settings: Settings, slack: FakeSlack
) -> None:
    """A rolling deploy: a newer web process queues a message kind (or a payload version) this worker
    doesn't know. The worker must neither crash on it (a poison row would stop every message behind
    it) nor post it half-understood: it leaves it for a newer dispatcher, with the reason recorded."""
    newer_kind = {"v": 1, "message": {"summary": ["hi"], "blocks": [{"kind": "poll", "question": "?"}]}}
    newer_version = {"v": 2, "message": {"summary": ["hi"]}}
    with session_factory.begin() as session:
        # As the newer version wrote them (this version's enqueue would refuse what it can't read).
        for key, payload in (("kind", newer_kind), ("version", newer_version)):
            session.add(
                OutboxMessage(
                    workspace_id=workspace.id, idempotency_key=key, channel_id="C0ONE", payload=payload,
                    state=OutboxState.PENDING.value, due_at=NOW, attempts=0,
                )
            )  # fmt: skip
        enqueue(session, workspace.id, "fine", outbox_payload(Message(text("fine"))), channel_id="C0TWO", now=NOW)
    assert _dispatch(session_factory, settings) == 1
    assert [b["channel"] for b in _sent(slack)] == ["C0TWO"]
    with session_factory() as session:
        rows = {r.idempotency_key: r for r in session.scalars(select(OutboxMessage))}
        for key in ("kind", "version"):
            assert rows[key].state == OutboxState.PENDING.value and rows[key].due_at > NOW, key
            assert (rows[key].last_error or "").startswith("unreadable here:"), rows[key].last_error
        assert "poll" in (rows["kind"].last_error or "") and "v2" in (rows["version"].last_error or "")


def test_a_payload_with_another_first_block_is_the_payload_of_that_message() -> None:
    message = every_kind()
    hello = text("Hi ", Literal("Ana <3"))
    assert payload_with_first(outbox_payload(message), Section(hello), hello) == outbox_payload(
        message.with_first(Section(hello), hello)
    )


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_messages_and_the_jobs_that_queue_them_speak_no_slack() -> None:
    """The neutral messages import no platform, and the services and jobs that queue them no longer
    build Block Kit from handlers/*_views (the wider import contract is tests/test_layers.py's)."""
    root = ROOT
    neutral = [root / "bot/core/message.py", *root.glob("bot/*/messages.py"), *root.glob("surveys/*_messages.py")]
    assert len(neutral) == 6
    for path in neutral:
        bad = {name for name in _imports(path) if name.split(".")[0] in ("handlers", "slack_sdk", "slack_bolt")}
        assert not bad, (path.name, bad)
    producers = [
        "bot/kudos/service.py",
        "bot/digest_jobs.py",
        "surveys/jobs.py",
        "bot/suggestions/service.py",
        "bot/onboarding/jobs.py",
        "bot/demo/kudos.py",
    ]
    for name in producers:
        views = {i for i in _imports(root / name) if i.startswith("handlers") and "render" in i}
        assert not views, (name, views)
