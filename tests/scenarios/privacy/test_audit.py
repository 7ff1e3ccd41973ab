"""The audit log: admin actions are recorded as who/what/when, never with the value or content."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import AuditEntry, Person
from tests.support.people import slack_id
from tests.support.slack_requests import SlackRequests


def test_a_config_change_is_audited_without_its_value(
    people: None,
    slack_requests: SlackRequests,
    session_factory: sessionmaker[Session],
) -> None:
    slack_requests.command("/empathy", "config kudos-channel <#C0KUDOS|kudos>", user_id="U0PRIYA")
    with session_factory() as session:
        entry = session.scalars(select(AuditEntry)).one()
        actor = session.get(Person, entry.actor_id)
        assert actor is not None and slack_id(actor) == "U0PRIYA"
        assert (entry.via, entry.action, entry.subject) == ("slack", "config.set", "kudos-channel")
    text = slack_requests.command("/empathy", "audit", user_id="U0PRIYA").get_json()["text"]
    assert "Priya Natarajan (slack) · `config.set` kudos-channel" in text
    assert "C0KUDOS" not in text


def test_a_refused_change_leaves_no_entry_and_only_hr_reads_the_log(
    people: None,
    slack_requests: SlackRequests,
    session_factory: sessionmaker[Session],
) -> None:
    slack_requests.command("/empathy", "config kudos-channel #kudos", user_id="U0ANA")
    reply = slack_requests.command("/empathy", "audit", user_id="U0ANA").get_json()
    assert "Only HR admins can read the audit log" in reply["text"]
    empty = slack_requests.command("/empathy", "audit", user_id="U0PRIYA").get_json()
    assert empty["text"].startswith("No admin actions recorded yet")
    with session_factory() as session:
        assert session.scalars(select(AuditEntry)).all() == []
