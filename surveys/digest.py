"""A manager's weekly digest as plain data: their organisation and its units, only what may be shown.

The digest covers rounds that closed in the week before `week_end`; trends use the closed rounds of the
12 weeks before that. A manager sees only groups inside their own organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean, pstdev

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Person, Team
from surveys.bank import QuestionBank
from surveys.comments import Comment, group_comments
from surveys.models import PulseRound, PulseUnit
from surveys.results import GroupResult, group_results, org_id
from surveys.scoring import Estimate, Trend, cbi_band, ewma_trend

HISTORY_WEEKS = 12
BASELINE_ROUNDS = 4
# Worse is up for burnout, down for the others.
WATCHED = {"burnout": "up", "engagement": "down", "wellbeing": "down"}


@dataclass
class DigestSection:
    group_id: str
    title: str
    result: GroupResult
    trends: dict[str, Trend] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass(frozen=True)
class ExtraSection:
    """A section another feature adds to a digest (recognition, onboarding): plain sentences, no markup.

    The renderer escapes each line, so names and text from people can't ping anyone or break layout.
    """

    key: str
    title: str
    lines: list[str]


@dataclass
class Digest:
    manager_id: int
    week_end: datetime
    round_ids: list[int]
    sections: list[DigestSection]
    hidden_groups: int = 0
    extras: list[ExtraSection] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.sections and not self.extras


def rounds_closed_between(session: Session, workspace_id: int, start: datetime, end: datetime) -> list[int]:
    return list(
        session.scalars(
            select(PulseRound.id)
            .where(
                PulseRound.workspace_id == workspace_id,
                PulseRound.status == "closed",
                PulseRound.closed_at >= start,
                PulseRound.closed_at < end,
            )
            .order_by(PulseRound.closed_at)
        )
    )


def manager_digest(session: Session, bank: QuestionBank, manager: Person, week_end: datetime, *, k: int = 5) -> Digest:
    week_rounds = rounds_closed_between(session, manager.workspace_id, week_end - timedelta(days=7), week_end)
    results = group_results(session, bank, week_rounds, k=k) if week_rounds else {}
    own = _own_groups(session, manager, week_rounds)
    history = rounds_closed_between(session, manager.workspace_id, week_end - timedelta(weeks=HISTORY_WEEKS), week_end)
    comments = group_comments(session, week_rounds) if week_rounds else {}
    sections = []
    for group_id in own:
        if group_id not in results:
            continue
        section = DigestSection(group_id, _title(session, group_id, manager), results[group_id])
        section.trends = _trends(session, bank, group_id, history, k)
        section.flags = risk_flags(section)
        section.comments = comments.get(group_id, [])
        sections.append(section)
    return Digest(manager.id, week_end, week_rounds, sections, hidden_groups=len(set(own) - set(results)))


def _own_groups(session: Session, manager: Person, round_ids: list[int]) -> list[str]:
    """The manager's organisation first, then every unit and sub-organisation inside it."""
    groups = [org_id(manager.id)]
    units = session.scalars(select(PulseUnit).where(PulseUnit.round_id.in_(round_ids))).all() if round_ids else []
    for unit in units:
        if manager.id not in unit.chain:
            continue
        below = unit.chain[unit.chain.index(manager.id) + 1 :]
        for key in [*(org_id(m) for m in below), f"unit:{unit.team_id}:{unit.manager_id}"]:
            if key not in groups:
                groups.append(key)
    return groups


def _title(session: Session, group_id: str, manager: Person) -> str:
    kind, *rest = group_id.split(":")
    if kind == "org":
        person = session.get(Person, int(rest[0]))
        if person is None or person.id == manager.id:
            return "Your whole organisation"
        return f"{person.name}'s organisation"
    team = session.get(Team, int(rest[0])) if rest[0] != "None" else None
    lead = session.get(Person, int(rest[1])) if rest[1] != "None" else None
    who = (
        "your direct reports"
        if lead is not None and lead.id == manager.id
        else f"{lead.name if lead else 'no manager'}"
    )
    return f"{team.name if team else 'No team'} ({who})"


def _trends(session: Session, bank: QuestionBank, group_id: str, history: list[int], k: int) -> dict[str, Trend]:
    series: dict[str, list[float]] = {}
    for round_id in history:
        result = group_results(session, bank, [round_id], k=k).get(group_id)
        if result is None:
            continue
        for metric, estimate in result.figures.items():
            series.setdefault(metric, []).append(estimate.value)
    trends = {}
    for metric, values in series.items():
        if len(values) <= BASELINE_ROUNDS:
            continue
        baseline = values[:BASELINE_ROUNDS]
        sigma = max(pstdev(baseline), 2.0)  # a perfectly flat start would otherwise make any wobble a signal
        trends[metric] = ewma_trend(values[BASELINE_ROUNDS:], target=fmean(baseline), sigma=sigma)
    return trends


def risk_flags(section: DigestSection) -> list[str]:
    flags = []
    burnout: Estimate | None = section.result.figures.get("burnout")
    if burnout is not None and burnout.low >= 50:
        flags.append(f"Burnout is in the {cbi_band(burnout.low)} band or above, even at the low end of its range")
    for metric, worse in WATCHED.items():
        trend = section.trends.get(metric)
        if trend is not None and trend.signal == worse:
            flags.append(f"{metric.title()} has been {trend.in_words()} for a while, beyond normal week-to-week noise")
    participation = section.result.participation
    if participation is not None and participation < 60:
        flags.append(f"Only {participation:.0f}% took part: low participation is a warning sign in itself")
    return flags
