"""Digests and the HR overview for a Teams tenant: queued by the weekly job at each person's local time as
neutral messages, rendered at send time as Adaptive Cards (the trend chart inline), and the overview paged
so that every message fits Teams' 100 KB while Slack's stays one message, unchanged."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.platforms import message_fits
from bot.core.models import OutboxMessage, Platform
from bot.core.settings import Settings
from bot.digest_jobs import overview_key, queue_digests
from handlers.teams.render.message import MAX_BYTES, MessageTooLarge, fits, render, render_payload, size
from surveys import digest_messages
from tests.fakes.teams.cards import activity_problems, walk
from tests.scenarios.teams.test_home import MONDAY, build_teams_org
from tests.support.golden_cases import _overview

PICTURE = b"\x89PNG\r\n\x1a\n stand-in"


def monospace_rows(activity: dict[str, Any]) -> list[str]:
    return [
        html.unescape(str(item["text"])).replace("\u00a0", " ")
        for item in walk(activity["attachments"][0]["content"])
        if item.get("fontType") == "Monospace"
    ]


def test_the_600_group_overview_fits_teams_in_pages_and_slack_keeps_one_message() -> None:
    overview = _overview(rows=600)
    whole = digest_messages.overview_message(overview, "Priya")
    with pytest.raises(MessageTooLarge):  # as one message, Teams refuses it
        render(whole)

    messages = digest_messages.overview_messages(overview, "Priya", fits)
    activities = [render(message) for message in messages]

    assert digest_messages.overview_messages(overview, "Priya") == [whole]  # no check: Slack's one message
    assert 2 < len(activities) <= 1 + digest_messages.MAX_TABLE_PAGES
    for activity in activities:
        assert activity_problems(activity) == []
        assert size(activity) <= MAX_BYTES
    # Every group's row, once, in order, across the pages (each page repeats the column header).
    header, *rows = digest_messages.heatmap_lines(overview)
    shown = [row for activity in activities[1:] for row in monospace_rows(activity) if row != header]
    assert shown == rows
    assert "follows in the next" in str(messages[0].blocks)
    assert "(part 1 of" in str(messages[1].blocks[0])


def test_a_small_overview_is_one_message_on_teams_too() -> None:
    overview = _overview()
    assert digest_messages.overview_messages(overview, "Priya", fits) == [
        digest_messages.overview_message(overview, "Priya")
    ]


def test_a_teams_managers_digest_and_chart_render_as_cards_with_the_chart_inline(
    teams_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    build_teams_org(session_factory, rounds=6)

    with session_factory.begin() as session:
        queued = queue_digests(session, MONDAY, teams_settings, fits=message_fits(teams_settings))
    assert queued >= 3  # Priya (manager and HR), Marcus, Grace; and Priya's overview

    with session_factory() as session:
        rows = {row.idempotency_key: row for row in session.scalars(select(OutboxMessage))}
    digests = [key for key in rows if key.startswith("digest:")]
    charts = [key for key in rows if key.startswith("digest-chart:")]
    assert digests and charts
    for key in digests + charts + [k for k in rows if k.startswith("overview:")]:
        if rows[key].state != "pending":
            continue  # "nothing this week" rows are cancelled, never sent
        activity = render_payload(rows[key].payload)
        assert activity_problems(activity) == [], key
    [chart] = [render_payload(rows[key].payload) for key in charts[:1]]
    images = [item for item in walk(chart) if item.get("type") == "Image"]
    assert images and images[0]["url"].startswith("data:image/png;base64,")
    assert images[0]["altText"]
    # Each person's overview at their local 09:00: Priya's is keyed for this week.
    priya = next(row for key, row in rows.items() if key.startswith("overview:"))
    assert priya.idempotency_key.startswith(overview_key(datetime(2026, 11, 30, 9, tzinfo=UTC), priya.person_id))
    assert Platform.TEAMS.value in message_fits(teams_settings)
