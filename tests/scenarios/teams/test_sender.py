"""The outbox reaches Teams people: the real dispatcher (`OutboxDispatcher`) and `TeamsSender`, through the
real Teams SDK, against the fake Bot Connector with its token checked on every call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.cli.platforms import chat_platforms
from bot.core.clock import ManualClock
from bot.core.message import Actions, Button, Mention, Message, Section, outbox_payload, text
from bot.core.models import OutboxMessage, OutboxState, Person, PersonAccount, Platform, Workspace
from bot.core.settings import Settings
from bot.delivery.outbox import OutboxDispatcher, enqueue
from bot.delivery.ports import RATE_LIMITED, Sender, SendFailed
from bot.jobs import build_jobs
from handlers.slack.client import build_web_client
from handlers.slack.sender import SlackSender
from handlers.teams.accounts import ConversationRef, teams_workspace
from handlers.teams.graph import GraphClient
from handlers.teams.install import INSTALL_PERMISSION, GraphInstaller
from handlers.teams.platform import TeamsPlatform
from handlers.teams.reasons import BLOCKED, NOT_INSTALLED, NOT_INSTALLED_PREFIX, reach_label
from handlers.teams.sender import TeamsSender
from tests.fakes.slack.api import FakeSlack
from tests.fakes.teams.auth import FakeBotFrameworkAuth
from tests.fakes.teams.cards import activity_problems
from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.graph import TOKEN as GRAPH_TOKEN
from tests.fakes.teams.graph import FakeGraph
from tests.scenarios.teams.conftest import ANA, CLIENT_ID, PRIYA, TENANT_ID, teams_env
from tests.support.people import slack_account

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ANA_CHAT = "a:1ana-personal-chat"


class FakeTime:
    """Monotonic time and sleep that move together: pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sender(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    fake_time: FakeTime,
) -> Iterator[TeamsSender]:
    yield TeamsSender(
        teams_settings,
        session_factory,
        token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID),
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
    )


@pytest.fixture
def tenant(session_factory: sessionmaker[Session]) -> Workspace:
    with session_factory.begin() as session:
        return teams_workspace(session, TENANT_ID)


def add_teams_person(
    session_factory: sessionmaker[Session], tenant: Workspace, aad: str, name: str, ref: ConversationRef | None
) -> int:
    with session_factory.begin() as session:
        account = PersonAccount(
            platform=Platform.TEAMS.value,
            external_user_id=aad,
            conversation_ref=ref.to_json() if ref is not None else None,
        )
        person = Person(workspace_id=tenant.id, name=name, accounts=[account])
        session.add(person)
        session.flush()
        return person.id


def queue(
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    key: str,
    message: Message,
    clock: ManualClock,
    **to: Any,
) -> int:
    with session_factory.begin() as session:
        return enqueue(session, workspace.id, key, outbox_payload(message), now=clock.now(), **to).id


def dispatcher(
    session_factory: sessionmaker[Session],
    senders: Sender | dict[str, Sender],
    clock: ManualClock,
    fake_time: FakeTime,
) -> OutboxDispatcher:
    return OutboxDispatcher(session_factory, senders, clock, sleep=fake_time.sleep, monotonic=fake_time.monotonic)


def row(session_factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with session_factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def stored_ref(session_factory: sessionmaker[Session], person_id: int) -> ConversationRef | None:
    with session_factory() as session:
        ref = session.scalar(select(PersonAccount.conversation_ref).where(PersonAccount.person_id == person_id))
        return ConversationRef.from_json(ref) if ref else None


def hello(n: int = 1) -> Message:
    return Message(text(f"Hello {n}"), (Section(text(f"How was your week, number {n}?")),))


def posts(connector: FakeBotConnector, conversation: str) -> list[dict[str, Any]]:
    return [c.body for c in connector.sent() if c.path == f"/v3/conversations/{conversation}/activities"]


def test_a_queued_message_reaches_a_teams_person_as_an_adaptive_card_in_their_conversation(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    add_teams_person(session_factory, tenant, PRIYA.aad_object_id, PRIYA.name, None)
    message = Message(
        text("Kudos from ", Mention(PRIYA.aad_object_id)),
        (
            Section(text(Mention(PRIYA.aad_object_id), " thanks you for the release notes.")),
            Actions((Button("Say thanks", "kudos.thanks", value="1"),)),
        ),
    )
    row_id = queue(session_factory, tenant, "kudos-1", message, clock, person_id=ana)

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.sent == 1 and report.failed == 0
    [activity] = posts(connector, ANA_CHAT)
    assert activity_problems(activity) == []
    card = activity["attachments"][0]["content"]
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": f"<at>{PRIYA.name}</at>",
            "mentioned": {"id": PRIYA.aad_object_id, "name": PRIYA.name},
        }
    ]
    assert activity["summary"] == f"Kudos from {PRIYA.name}"
    sent = row(session_factory, row_id)
    assert sent.state == OutboxState.SENT.value
    assert sent.sent_ts and ConversationRef.from_json(sent.sent_channel_id or "").conversation_id == ANA_CHAT
    assert [c.path for c in connector.calls] == [f"/v3/conversations/{ANA_CHAT}/activities"], "no conversation made"


def test_a_person_without_a_reference_gets_a_conversation_created_once_then_the_message(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(session_factory, tenant, ANA.aad_object_id, ANA.name, None)
    queue(session_factory, tenant, "one", hello(1), clock, person_id=ana)
    queue(session_factory, tenant, "two", hello(2), clock, person_id=ana)

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.sent == 2
    creates = [c for c in connector.calls if c.path == "/v3/conversations"]
    assert len(creates) == 1, "the conversation is created once and stored"
    assert creates[0].body["members"] == [{"id": ANA.aad_object_id}]
    assert creates[0].body["tenantId"] == TENANT_ID
    assert creates[0].body["channelData"] == {"tenant": {"id": TENANT_ID}}
    ref = stored_ref(session_factory, ana)
    assert ref is not None and ref.service_url == connector.url
    assert connector.conversations[ref.conversation_id].members == [{"id": ANA.aad_object_id}]
    assert [json.dumps(b["attachments"][0]["content"]["body"]) for b in posts(connector, ref.conversation_id)] == [
        json.dumps([{"type": "TextBlock", "text": f"How was your week, number {n}?", "wrap": True}]) for n in (1, 2)
    ]


def test_a_429_holds_the_whole_tenant_for_retry_after_and_nothing_is_lost_or_doubled(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    people = [
        add_teams_person(
            session_factory,
            tenant,
            f"00000000-0000-4000-8000-{n:012d}",
            f"P{n}",
            ConversationRef(f"a:{n}", connector.url),
        )
        for n in range(3)
    ]
    rows = [queue(session_factory, tenant, f"k{n}", hello(n), clock, person_id=p) for n, p in enumerate(people)]
    connector.fail_next(429, method="POST", retry_after=7)
    moments: list[float] = []
    send = sender.post

    def timed_post(*args: Any, **kwargs: Any) -> Any:
        moments.append(fake_time.now)
        return send(*args, **kwargs)

    sender.post = timed_post  # type: ignore[method-assign]
    outbox = dispatcher(session_factory, sender, clock, fake_time)

    first = outbox.run_once(time_budget=60)

    assert first.sent == 2 and first.retried == 1
    assert moments[1] - moments[0] >= 7, "no other message to the tenant went out during Retry-After"
    throttled = row(session_factory, rows[0])
    assert throttled.state == OutboxState.PENDING.value and throttled.last_error == RATE_LIMITED
    assert throttled.attempts == 0, "being told to slow down costs no attempt"

    clock.advance(timedelta(seconds=8))
    second = outbox.run_once(time_budget=60)

    assert second.sent == 1
    assert all(row(session_factory, r).state == OutboxState.SENT.value for r in rows)
    assert [len(posts(connector, f"a:{n}")) for n in range(3)] == [1, 1, 1], "each person once"


@pytest.mark.parametrize("status", [412, 502, 503, 504])
def test_a_transient_refusal_is_retried_and_the_message_arrives_once(
    status: int,
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    connector.fail_next(status, method="POST")
    outbox = dispatcher(session_factory, sender, clock, fake_time)

    first = outbox.run_once(time_budget=5)

    assert first.retried == 1 and first.sent == 0
    assert row(session_factory, row_id).last_error == f"teams http {status}"
    clock.advance(timedelta(minutes=1))
    assert outbox.run_once(time_budget=5).sent == 1
    assert len(posts(connector, ANA_CHAT)) == 1
    assert row(session_factory, row_id).state == OutboxState.SENT.value


def test_a_person_who_blocked_the_bot_fails_at_once_with_a_reason_hr_can_read(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    connector.fail_next(403, method="POST", sub_code="MessageWritesBlocked")

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.failed == 1 and report.retried == 0
    failed = row(session_factory, row_id)
    assert failed.state == OutboxState.FAILED.value
    assert failed.last_error == BLOCKED and "blocked the bot" in BLOCKED
    assert len(connector.calls) == 1, "no retry"


def test_a_person_the_app_is_not_installed_for_fails_with_how_to_fix_it(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(session_factory, tenant, ANA.aad_object_id, ANA.name, None)
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    connector.fail_next(403, method="POST")  # creating the conversation: "not part of the conversation roster"

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.failed == 1
    assert row(session_factory, row_id).last_error == NOT_INSTALLED
    assert "install it for them" in NOT_INSTALLED
    assert stored_ref(session_factory, ana) is None
    assert [c.path for c in connector.calls] == ["/v3/conversations"]


MANIFEST_ID = "3f0c6f5e-7f43-5b4e-9b52-2d1d5a6c1e0a"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        fake.add_user(ANA.aad_object_id, ANA.name, mail="ana@contoso.example")
        fake.add_catalog_app("catalog-app-1", MANIFEST_ID)
        yield fake


def installing_sender(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    graph: FakeGraph,
    fake_time: FakeTime,
) -> TeamsSender:
    return TeamsSender(
        teams_settings,
        session_factory,
        token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID),
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        installer=GraphInstaller(GraphClient(graph.api_url, lambda: GRAPH_TOKEN, sleep=fake_time.sleep), MANIFEST_ID),
    )


def test_a_person_without_the_app_gets_it_installed_through_graph_and_then_the_message(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    tenant: Workspace,
    connector: FakeBotConnector,
    graph: FakeGraph,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    """Teams opens a chat only with someone who has the app: the sender installs it for them through
    Graph (the catalog's app found by the manifest id), then opens the chat and sends, in one run."""
    ana = add_teams_person(session_factory, tenant, ANA.aad_object_id, ANA.name, None)
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    connector.fail_next(403, method="POST")  # creating the conversation: "not part of the conversation roster"
    sender = installing_sender(teams_settings, session_factory, teams_auth, graph, fake_time)

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.sent == 1 and report.failed == 0
    assert row(session_factory, row_id).state == OutboxState.SENT.value
    assert graph.installed[ANA.aad_object_id] == {"catalog-app-1": graph.installed[ANA.aad_object_id]["catalog-app-1"]}
    assert [c.path for c in connector.calls][:2] == ["/v3/conversations", "/v3/conversations"]
    assert stored_ref(session_factory, ana) is not None
    assert len(connector.sent()) == 1


def test_when_graph_may_not_install_the_app_the_row_fails_with_what_an_admin_can_do(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    tenant: Workspace,
    connector: FakeBotConnector,
    graph: FakeGraph,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(session_factory, tenant, ANA.aad_object_id, ANA.name, None)
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    graph.deny(INSTALL_PERMISSION)
    connector.fail_next(403, method="POST")
    sender = installing_sender(teams_settings, session_factory, teams_auth, graph, fake_time)

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.failed == 1 and report.retried == 0
    reason = row(session_factory, row_id).last_error or ""
    assert reason.startswith(NOT_INSTALLED_PREFIX) and INSTALL_PERMISSION in reason and "setup policy" in reason
    assert reach_label(reason) == "do not have the app installed"  # doctor counts them with the uninstalled
    assert graph.installed.get(ANA.aad_object_id, {}) == {}
    assert [c.path for c in connector.calls] == ["/v3/conversations"], "no second try without an install"
    assert stored_ref(session_factory, ana) is None


def test_a_conversation_that_is_gone_is_made_again_once_and_stored(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    connector.fail_next(404, method="POST")  # she cleared the chat

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.sent == 1
    ref = stored_ref(session_factory, ana)
    assert ref is not None and ref.conversation_id != ANA_CHAT
    assert [c.path for c in connector.calls] == [
        f"/v3/conversations/{ANA_CHAT}/activities",
        "/v3/conversations",
        f"/v3/conversations/{ref.conversation_id}/activities",
    ]
    assert ConversationRef.from_json(row(session_factory, row_id).sent_channel_id or "") == ref


def test_a_replacement_updates_the_activity_in_place(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    channel = "19:kudos@thread.tacv2"
    first = queue(session_factory, tenant, "open", hello(1), clock, channel_id=channel)
    outbox = dispatcher(session_factory, sender, clock, fake_time)
    outbox.run_once(time_budget=5)
    activity_id = row(session_factory, first).sent_ts
    assert activity_id

    with session_factory.begin() as session:
        enqueue(
            session,
            tenant.id,
            "closed",
            outbox_payload(hello(2), replaces=activity_id),
            channel_id=channel,
            now=clock.now(),
        )
    assert outbox.run_once(time_budget=5).sent == 1

    assert [c.method for c in connector.calls] == ["POST", "PUT"]
    replaced = connector.conversations[channel].activities[activity_id]
    assert "number 2" in json.dumps(replaced) and activity_problems(replaced) == []


def test_a_mixed_outbox_sends_each_row_through_its_own_platform(
    settings: Settings,
    session_factory: sessionmaker[Session],
    workspace: Workspace,
    tenant: Workspace,
    slack: FakeSlack,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    slack.add_user("U0BEN", email="ben@example.com", real_name="Ben Okafor")
    with session_factory.begin() as session:
        ben = Person(workspace_id=workspace.id, name="Ben", accounts=slack_account("U0BEN"))
        session.add(ben)
        session.flush()
        ben_id = ben.id
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    to_ben = queue(session_factory, workspace, "ben", hello(1), clock, person_id=ben_id)
    to_ana = queue(session_factory, tenant, "ana", hello(2), clock, person_id=ana)
    slack_sender = SlackSender(build_web_client(settings, for_outbox=True), rate_per_minute=100_000, burst=100)

    report = dispatcher(session_factory, {"slack": slack_sender, "teams": sender}, clock, fake_time).run_once(
        time_budget=5
    )

    assert report.sent == 2
    [slack_post] = slack.calls_to("chat.postMessage")
    assert "number 1" in json.dumps(slack_post)
    [teams_post] = posts(connector, ANA_CHAT)
    assert "number 2" in json.dumps(teams_post) and "number 1" not in json.dumps(teams_post)
    assert row(session_factory, to_ben).state == row(session_factory, to_ana).state == OutboxState.SENT.value


class CrashAfterPost(Exception):
    """Stands in for the process dying after Teams stored a post and before the outbox's commit; a
    BaseException in spirit, an Exception here only so pytest can catch it."""


def test_a_crash_between_send_and_commit_costs_at_most_one_duplicate_and_loses_nothing(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    send = sender.post

    def post_then_die(*args: Any, **kwargs: Any) -> Any:
        send(*args, **kwargs)
        raise CrashAfterPost

    sender.post = post_then_die  # type: ignore[method-assign]
    with pytest.raises(CrashAfterPost):
        dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)
    assert row(session_factory, row_id).state == OutboxState.SENDING.value
    del sender.post  # the next process's sender

    clock.advance(timedelta(minutes=3))  # past the dead dispatcher's lease
    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)

    assert report.recovered == 1 and report.sent == 1
    assert len(posts(connector, ANA_CHAT)) == 2, "Teams has no history to check: exactly one duplicate"
    assert row(session_factory, row_id).state == OutboxState.SENT.value


def test_already_sent_says_it_cannot_tell(sender: TeamsSender) -> None:
    with pytest.raises(SendFailed) as refused:
        sender.already_sent(TENANT_ID, ANA_CHAT, 1)
    assert refused.value.code == "no_history" and not refused.value.permanent


def test_doctor_counts_who_cannot_be_reached_on_teams_and_why_without_names(
    slack: FakeSlack,
    db_url: str,
    teams_auth: FakeBotFrameworkAuth,
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocked = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    uninstalled = add_teams_person(session_factory, tenant, PRIYA.aad_object_id, PRIYA.name, None)
    fine = add_teams_person(
        session_factory,
        tenant,
        "c0c0c0c0-0000-4000-8000-00000000c0c0",
        "Carl Nilsen",
        ConversationRef("a:carl", connector.url),
    )
    add_teams_person(session_factory, tenant, "d0d0d0d0-0000-4000-8000-00000000d0d0", "Dana Wu", None)  # never messaged
    for key, person in (("a", blocked), ("p", uninstalled), ("c", fine)):
        queue(session_factory, tenant, key, hello(), clock, person_id=person)
    connector.fail_next(403, method="POST", sub_code="MessageWritesBlocked")  # Ana's post
    connector.fail_next(403, method="POST")  # creating Priya's conversation
    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=5)
    assert report.failed == 2 and report.sent == 1

    monkeypatch.chdir(tmp_path)
    for name, value in teams_env(slack, db_url, teams_auth, connector).items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 0, "unreachable people are worth knowing, not a broken install"

    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "Teams reach" in line]
    assert line == (
        "! Teams reach: 2 of 4 people cannot be reached: 1 blocked the bot or removed the app; "
        "1 do not have the app installed; 1 have no chat with the bot yet (made at their first message)"
    )
    assert "setup policy" in out
    for name in (ANA.name, PRIYA.name, "Carl", "Dana"):
        assert name not in out


def test_the_scheduled_outbox_job_hands_teams_rows_to_the_teams_sender(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    teams_auth: FakeBotFrameworkAuth,
    tenant: Workspace,
    connector: FakeBotConnector,
    clock: ManualClock,
) -> None:
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)
    platform = TeamsPlatform(
        teams_settings, session_factory, token=lambda _scope, _tenant: teams_auth.app_token(CLIENT_ID, TENANT_ID)
    )
    assert platform.sender() is platform.sender(), "one sender per process: the tenant's pace outlives a run"
    [built] = [p for p in chat_platforms(teams_settings, session_factory) if p.name == "teams"]
    assert isinstance(built.sender(), TeamsSender)
    job = {job.name: job for job in build_jobs(teams_settings, session_factory, [platform])}["outbox.dispatch"]

    with session_factory.begin() as session:
        report = job.func(session, clock)

    assert report.sent == 1
    assert len(posts(connector, ANA_CHAT)) == 1
    assert row(session_factory, row_id).state == OutboxState.SENT.value


def test_posts_to_one_channel_keep_to_microsofts_per_conversation_limits(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    channel = "19:shout-outs@thread.tacv2"
    for n in range(9):
        queue(session_factory, tenant, f"k{n}", hello(n), clock, channel_id=channel)
    moments: list[float] = []
    send = sender.post

    def timed_post(*args: Any, **kwargs: Any) -> Any:
        sent = send(*args, **kwargs)
        moments.append(fake_time.now)
        return sent

    sender.post = timed_post  # type: ignore[method-assign]

    assert dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=30).sent == 9

    assert len(posts(connector, channel)) == 9
    assert moments[6] - moments[0] < 1, "seven in a second are allowed"
    assert moments[7] - moments[0] >= 1, "the eighth waits for the 1 s window (7/s)"
    assert moments[8] - moments[0] >= 2, "the ninth waits for the 2 s window (8 in 2 s)"


def test_a_failure_inside_the_sdk_puts_the_row_back_instead_of_stopping_the_dispatcher(
    teams_settings: Settings,
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    def no_token(_scope: str, _tenant: str | None) -> str:
        raise RuntimeError("the identity provider is down")

    broken = TeamsSender(teams_settings, session_factory, token=no_token, monotonic=fake_time.monotonic)
    ana = add_teams_person(
        session_factory, tenant, ANA.aad_object_id, ANA.name, ConversationRef(ANA_CHAT, connector.url)
    )
    row_id = queue(session_factory, tenant, "k", hello(), clock, person_id=ana)

    report = dispatcher(session_factory, broken, clock, fake_time).run_once(time_budget=5)

    assert report.retried == 1
    waiting = row(session_factory, row_id)
    assert waiting.state == OutboxState.PENDING.value
    assert waiting.last_error is not None and waiting.last_error.startswith("teams: ")
    assert "identity provider" not in waiting.last_error, "only the error's type is kept"
    assert connector.sent() == []


def test_a_channel_past_sixty_posts_in_thirty_seconds_reschedules_the_rest_without_costing_attempts(
    session_factory: sessionmaker[Session],
    tenant: Workspace,
    connector: FakeBotConnector,
    sender: TeamsSender,
    clock: ManualClock,
    fake_time: FakeTime,
) -> None:
    channel = "19:all-hands@thread.tacv2"
    rows = [queue(session_factory, tenant, f"k{n:02d}", hello(n), clock, channel_id=channel) for n in range(61)]

    report = dispatcher(session_factory, sender, clock, fake_time).run_once(time_budget=100)

    assert report.sent == 60 and report.retried == 1
    assert len(posts(connector, channel)) == 60
    last = row(session_factory, rows[-1])
    assert last.state == OutboxState.PENDING.value and last.last_error == RATE_LIMITED and last.attempts == 0
    assert last.due_at.replace(tzinfo=UTC) > clock.now() + timedelta(seconds=2), "rescheduled, not waited for"
    assert max(fake_time.slept) <= 2.0 + 1e-9, "no long wait in place: other conversations keep going"
