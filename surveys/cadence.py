"""When rounds happen: cadence, weekday and each person's local send time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CADENCES = ("weekly", "fortnightly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The earliest time zone (UTC+14) reaches a local date this long before UTC does.
EARLIEST_OFFSET = timedelta(hours=14)
DEFAULT_TIMEZONE = "UTC"


def is_round_day(cadence: str, weekday: int, anchor: date, day: date) -> bool:
    if day.weekday() != weekday:
        return False
    if cadence == "weekly":
        return True
    if cadence == "fortnightly":
        return ((day - anchor).days // 7) % 2 == 0
    if cadence == "monthly":
        return day.day <= 7  # the first such weekday of the month
    raise ValueError(f"unknown cadence {cadence!r}")


def parse_send_time(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_send_at(day: date, send_time: str, timezone: str | None) -> datetime:
    """The UTC instant that is `send_time` on `day` in the person's time zone."""
    return datetime.combine(day, parse_send_time(send_time), zone(timezone)).astimezone(UTC)


def earliest_send_at(day: date, send_time: str) -> datetime:
    """When the first time zone on Earth reaches `send_time` on `day`: the round opens then."""
    return datetime.combine(day, parse_send_time(send_time), UTC) - EARLIEST_OFFSET


def candidate_days(now: datetime) -> list[date]:
    """Local dates some time zone is on right now (UTC-12 … UTC+14), plus tomorrow's UTC date."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=1), today, today + timedelta(days=1)]


def next_weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)
