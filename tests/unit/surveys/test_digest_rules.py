"""Pure rules behind the digest: send times across time zones, suggested actions, comment themes, charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.delivery.charts import render, trend_alt_text, trend_spec
from bot.digest_jobs import latest_slot
from surveys.playbook import suggested_actions
from surveys.themes import comment_themes

ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati", "Europe/London"]


@given(
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    day=st.integers(0, 6),
    at=st.times(),
)
def test_the_latest_slot_is_the_last_send_time_at_or_before_now(now, zone, day, at) -> None:  # type: ignore[no-untyped-def]
    slot = latest_slot(now, ZoneInfo(zone), day, at)
    assert slot <= now < slot + timedelta(days=7, hours=2)  # 2 h: a DST change can stretch a local week
    local = slot.astimezone(ZoneInfo(zone))
    assert local.weekday() == day
    # A local time that does not exist (skipped by DST) moves forward by the gap; otherwise it is exact.
    assert local.time() == at or local.time() > at


def test_monday_nine_in_auckland_is_sunday_evening_utc() -> None:
    slot = latest_slot(datetime(2026, 11, 29, 20, 30, tzinfo=UTC), ZoneInfo("Pacific/Auckland"), 0, time(9))
    assert slot == datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def test_actions_put_burnout_first_and_name_a_running_weakest_driver() -> None:
    actions = suggested_actions(
        weakest="workload", weakest_streak=2, strongest="peers", burnout_flag=True, low_participation=True
    )
    assert len(actions) == 3
    assert actions[0].startswith("Burnout signs are showing")
    assert actions[1] == (
        "Workload is your team's lowest driver two rounds running: ask in your next 1:1s what could be dropped, "
        "delayed or shared, and drop one thing this week."
    )
    assert "never ask who did or didn't answer" in actions[2]


def test_a_single_round_weakest_driver_does_not_claim_a_streak() -> None:
    [action] = suggested_actions(
        weakest="growth", weakest_streak=1, strongest=None, burnout_flag=False, low_participation=False
    )
    assert action.startswith("Growth is your team's lowest driver: ")


def test_with_nothing_wrong_the_action_builds_on_a_strength() -> None:
    assert suggested_actions(
        weakest=None, weakest_streak=0, strongest="manager_support", burnout_flag=False, low_participation=False
    ) == ["Manager support is your team's strongest driver: tell the team what you see working, so it keeps happening."]


COMMENTS = [
    "Too many meetings this week",
    "Meetings eat my focus time",
    "The release process is painful",
    "Release process broke again",
    "So many meetings",
    "On-call is exhausting",
    "The on-call rota feels unfair",
    "Our release process needs love",
    "Great lunch on Friday",
    "Meetings, meetings, meetings",
]


def test_themes_need_ten_comments_and_three_mentions() -> None:
    assert comment_themes(COMMENTS) == [("meetings", 4), ("release process", 3)]
    assert comment_themes(COMMENTS[:9]) == []


@given(st.lists(st.text(max_size=80), min_size=10, max_size=30))
def test_every_theme_comes_from_at_least_three_comments(texts: list[str]) -> None:
    for theme, count in comment_themes(texts):
        assert count >= 3
        assert sum(all(w in t.lower() for w in theme.split()) for t in texts) >= 3


def test_the_chart_is_a_png_and_its_alt_text_says_what_it_shows() -> None:
    dates = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(14)]
    spec = trend_spec("Platform", dates, {"Engagement": [70.0] * 13 + [55.0], "Burnout (lower is better)": [None] * 14})
    assert len(spec["dates"]) == 12  # the last 12 rounds only
    assert render(spec).startswith(b"\x89PNG\r\n\x1a\n")
    alt = trend_alt_text(spec)
    assert "Engagement went from 70 to 55" in alt
    assert "Burnout (lower is better): not enough answers to show." in alt
    assert len(alt) <= 1000
