"""Weekly digests as plain data: a manager's organisation and its units, and HR's organisation-wide
overview. Only what may be shown ever gets here.

A digest covers rounds that closed in the seven days before `week_end`; trends and charts use the
closed rounds of the 12 weeks before that. A manager sees only groups inside their own organisation.
`WeekData` computes everything a week's digests share once per workspace, from each closed round's
value counts (`surveys.models.PulseValueCount`, written at close), so a thousand managers cost one
read of the 12 weeks' counts and one tally per round, not one per manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from statistics import fmean

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import Person, Team
from surveys.bank import QuestionBank
from surveys.comments import Comment, group_comments
from surveys.models import PulseRound, PulseUnit
from surveys.playbook import suggested_actions
from surveys.results import (
    GroupResult,
    RoundTally,
    RoundValues,
    Scoring,
    Shapes,
    build_tree,
    load_tallies,
    org_id,
    results_from,
    unit_key,
)
from surveys.scoring import Estimate, Trend, cbi_band, ewma_trend, pstdev_exact
from surveys.themes import comment_themes

HISTORY_WEEKS = 12
DIGEST_K = 5  # the smallest group a digest shows
# Worse is up for burnout, down for the others.
WATCHED = {"burnout": "up", "engagement": "down", "wellbeing": "down"}
CHART_METRICS = {"engagement": "Engagement", "burnout": "Burnout (lower is better)"}
PARTICIPATION_FLOOR = 60.0


@dataclass(frozen=True)
class TrendSettings:
    """EWMA control chart settings: λ (smoothing), L (limit width in σ), and the rounds that set the baseline."""

    smoothing: float = 0.2
    width: float = 3.0
    baseline_rounds: int = 4


@dataclass
class DigestSection:
    group_id: str
    title: str
    result: GroupResult
    trends: dict[str, Trend] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    themes: list[tuple[str, int]] = field(default_factory=list)
    strongest: list[tuple[str, Estimate]] = field(default_factory=list)
    weakest: list[tuple[str, Estimate]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    # Per chart metric, the value of each history round (None where the group could not be shown).
    series: dict[str, list[float | None]] = field(default_factory=dict)
    series_dates: list[date] = field(default_factory=list)


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
    hidden: list[str] = field(default_factory=list)  # titles of groups too small to show this week

    @property
    def empty(self) -> bool:
        return not self.sections and not self.extras and not self.hidden


@dataclass
class HeatmapRow:
    group_id: str
    title: str
    depth: int
    respondents: int | None  # None: the group is hidden
    cells: dict[str, float | None]  # driver → score, None where hidden


@dataclass
class Overview:
    """HR's organisation-wide view: each top-level organisation in full, and every group × driver."""

    week_end: datetime
    round_ids: list[int]
    sections: list[DigestSection]
    drivers: list[str]
    rows: list[HeatmapRow]

    @property
    def empty(self) -> bool:
        return not self.round_ids


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


class RoundResults:
    """Per-round tallies and results for one workspace (one bank, one k), shared by every `WeekData`
    of a digest run: managers in other time zones have other week ends, but the same closed rounds."""

    def __init__(self, session: Session, bank: QuestionBank, k: int) -> None:
        self.session = session
        self.bank = bank
        self.k = k
        self.scoring = Scoring(bank)
        self.shapes = Shapes()
        self._tallies: dict[int, RoundTally | None] = {}
        self._results: dict[tuple[int, ...], dict[str, GroupResult]] = {}
        self._values: dict[int, Mapping[str, dict[str, float]]] = {}

    def results(self, round_ids: Sequence[int]) -> dict[str, GroupResult]:
        key = tuple(round_ids)
        if key not in self._results:
            self.load(key)
            tallies = [t for r in key if (t := self._tallies[r]) is not None]
            self._results[key] = results_from(self.bank, tallies, self.k, scoring=self.scoring)
        return self._results[key]

    def values(self, round_id: int) -> Mapping[str, dict[str, float]]:
        """One round's figure values per shown group (no intervals): for trends, charts and streaks."""
        found = self._values.get(round_id)
        if found is not None:
            return found  # asked about 200,000 times in a run at 10,000 people: no more than a lookup
        if round_id not in self._values:
            self.load((round_id,))
            tally = self._tallies[round_id]
            self._values[round_id] = RoundValues(self.scoring, tally, self.k) if tally is not None else {}
        return self._values[round_id]

    def load(self, round_ids: Iterable[int]) -> None:
        """Read the rounds not read yet, all in one go (a round that is not closed counts for nothing)."""
        missing = [r for r in round_ids if r not in self._tallies]
        if missing:
            found = load_tallies(self.session, missing, k=self.k, shapes=self.shapes)
            for round_id in missing:
                self._tallies[round_id] = found.get(round_id)


class WeekData:
    """The week's results, comments and per-round history for one workspace, computed once and shared."""

    def __init__(
        self,
        session: Session,
        bank: QuestionBank,
        workspace_id: int,
        week_end: datetime,
        *,
        k: int = DIGEST_K,
        trend: TrendSettings | None = None,
        rounds: RoundResults | None = None,
    ) -> None:
        self.session = session
        self.bank = bank
        self.week_end = week_end
        self.k = k
        self.trend = trend or TrendSettings()
        if rounds is None or rounds.bank is not bank or rounds.k != k:
            rounds = RoundResults(session, bank, k)
        self.rounds = rounds
        self.week_rounds = rounds_closed_between(session, workspace_id, week_end - timedelta(days=7), week_end)
        self.history = rounds_closed_between(session, workspace_id, week_end - timedelta(weeks=HISTORY_WEEKS), week_end)
        self.rounds.load([*self.history, *self.week_rounds])
        self.results = self.rounds.results(self.week_rounds) if self.week_rounds else {}
        self.comments = group_comments(session, self.week_rounds) if self.week_rounds else {}
        self.units = (
            list(session.scalars(select(PulseUnit).where(PulseUnit.round_id.in_(self.week_rounds))))
            if self.week_rounds
            else []
        )
        self._groups_of: dict[int, list[str]] | None = None
        # Titles name each group's manager and team (`_title`, by `session.get`): load them all at once.
        leads = {manager for unit in self.units for manager in unit.chain}
        teams = {unit.team_id for unit in self.units if unit.team_id is not None}
        self._titled = [
            *(session.scalars(select(Person).where(Person.id.in_(leads))) if leads else ()),
            *(session.scalars(select(Team).where(Team.id.in_(teams))) if teams else ()),
        ]
        self._sections: dict[str, DigestSection] = {}
        self.titles: dict[str, _Named] = {}  # `_title`'s names per group
        self._history_values: list[Mapping[str, dict[str, float]]] | None = None
        self.history_dates = [
            (r.closed_at or r.closes_at).date()
            for r in session.scalars(
                select(PulseRound).where(PulseRound.id.in_(self.history)).order_by(PulseRound.closed_at)
            )
        ]

    def own_groups(self, manager_id: int) -> list[str]:
        """The manager's organisation first, then every sub-organisation and unit inside it."""
        if self._groups_of is None:
            found: dict[int, dict[str, None]] = {}  # dicts keep insertion order and drop repeats
            for unit in self.units:
                for index, manager in enumerate(unit.chain):
                    groups = found.setdefault(manager, {org_id(manager): None})
                    for key in [*(org_id(m) for m in unit.chain[index + 1 :]), unit_key(unit)]:
                        groups[key] = None
            self._groups_of = {manager: list(groups) for manager, groups in found.items()}
        return self._groups_of.get(manager_id, [org_id(manager_id)])

    def round_values(self, round_id: int) -> Mapping[str, dict[str, float]]:
        return self.rounds.values(round_id)

    def _history_of(self, group_id: str) -> list[dict[str, float]]:
        """The group's figure values in each history round, oldest first (empty where not shown)."""
        if self._history_values is None:
            self._history_values = [self.rounds.values(round_id) for round_id in self.history]
        return [values.get(group_id, {}) for values in self._history_values]

    def series(self, group_id: str, metric: str) -> list[float | None]:
        return [figures.get(metric) for figures in self._history_of(group_id)]

    def trends(self, group_id: str) -> dict[str, Trend]:
        series: dict[str, list[float]] = {}  # each metric's values in the rounds that showed it, oldest first
        for figures in self._history_of(group_id):
            for metric, value in figures.items():
                found = series.get(metric)
                if found is None:
                    series[metric] = [value]
                else:
                    found.append(value)
        baseline_rounds = self.trend.baseline_rounds
        trends = {}
        for metric in sorted(series):
            values = series[metric]
            if len(values) <= baseline_rounds:
                continue
            baseline = values[:baseline_rounds]
            sigma = max(pstdev_exact(baseline), 2.0)  # a perfectly flat start would otherwise make any wobble a signal
            trends[metric] = ewma_trend(
                values[baseline_rounds:],
                target=fmean(baseline),
                sigma=sigma,
                smoothing=self.trend.smoothing,
                width=self.trend.width,
            )
        return trends

    def weakest_streak(self, group_id: str, driver: str) -> int:
        """How many of the group's latest shown rounds in a row had `driver` as their lowest driver."""
        streak = 0
        for round_id in reversed(self.history):
            figures = self.round_values(round_id).get(group_id)
            if figures is None:
                continue
            # The lowest driver, as `_drivers` orders them: by value, then by name.
            lowest = min(
                ((value, key.split(":", 1)[1]) for key, value in figures.items() if key.startswith("driver:")),
                default=None,
            )
            if lowest is None or lowest[1] != driver:
                break
            streak += 1
        return streak

    def section(self, session: Session, group_id: str, title: str) -> DigestSection:
        """The group's section under `title`. Everything but the title is the same in every digest that
        shows the group (its manager's, each manager's above, HR's), so it is worked out once."""
        if group_id not in self._sections:
            self._sections[group_id] = self._section(group_id)
        return replace(self._sections[group_id], title=title)

    def _section(self, group_id: str) -> DigestSection:
        result = self.results[group_id]
        section = DigestSection(group_id, "", result)
        section.trends = self.trends(group_id)
        section.flags = risk_flags(section)
        section.comments = self.comments.get(group_id, [])
        section.themes = comment_themes([c.text for c in section.comments])
        drivers = _drivers(result)
        low_count = 2 if len(drivers) >= 4 else 1
        section.weakest = drivers[:low_count]
        section.strongest = list(reversed(drivers[low_count:]))[:2]
        weakest = drivers[0][0] if drivers else None
        participation = result.participation
        section.actions = suggested_actions(
            weakest=weakest,
            weakest_streak=self.weakest_streak(group_id, weakest) if weakest else 0,
            strongest=section.strongest[0][0] if section.strongest else None,
            burnout_flag=any("urnout" in flag for flag in section.flags),
            low_participation=participation is not None and participation < PARTICIPATION_FLOOR,
        )
        section.series = {metric: self.series(group_id, metric) for metric in CHART_METRICS}
        section.series_dates = self.history_dates
        return section


def _drivers(result: GroupResult) -> list[tuple[str, Estimate]]:
    """The group's drivers, lowest first."""
    found = [(key.split(":", 1)[1], e) for key, e in result.figures.items() if key.startswith("driver:")]
    return sorted(found, key=lambda item: (item[1].value, item[0]))


def manager_digest(
    session: Session,
    bank: QuestionBank,
    manager: Person,
    week_end: datetime,
    *,
    k: int = DIGEST_K,
    trend: TrendSettings | None = None,
    data: WeekData | None = None,
) -> Digest:
    data = data or WeekData(session, bank, manager.workspace_id, week_end, k=k, trend=trend)
    own = data.own_groups(manager.id)
    sections: list[DigestSection] = []
    seen: set[tuple[object, ...]] = set()
    for group_id in own:
        result = data.results.get(group_id)
        # A manager whose organisation is exactly one team would otherwise read the same numbers twice.
        if result is None or _fingerprint(result) in seen:
            continue
        seen.add(_fingerprint(result))
        sections.append(data.section(session, group_id, _title(session, group_id, manager, data.titles)))
    # With only their organisation's id in `own`, none of their people were in this week's rounds.
    hidden = [_title(session, g, manager, data.titles) for g in own if g not in data.results] if len(own) > 1 else []
    return Digest(manager.id, week_end, data.week_rounds, sections, hidden_groups=len(hidden), hidden=hidden)


def _fingerprint(result: GroupResult) -> tuple[object, ...]:
    return (result.respondents, result.invited, tuple(sorted(result.figures.items())))


def hr_overview(session: Session, data: WeekData) -> Overview:
    """Every top-level organisation in full, then a row per group (organisations and units) × driver."""
    rows: list[HeatmapRow] = []
    drivers: set[str] = set()
    tops: list[str] = []
    week_units_by_round: dict[int, list[PulseUnit]] = {}
    for unit in data.units:
        week_units_by_round.setdefault(unit.round_id, []).append(unit)
    seen: set[str] = set()
    for units in week_units_by_round.values():
        for root in build_tree(units):
            stack = [(root, 0)]
            while stack:
                group, depth = stack.pop()
                if depth == 0 and group.id not in tops:
                    tops.append(group.id)
                if group.id not in seen:
                    seen.add(group.id)
                    result = data.results.get(group.id)
                    cells = {name: e.value for name, e in _drivers(result)} if result else {}
                    drivers |= set(cells)
                    rows.append(
                        HeatmapRow(
                            group.id,
                            _title(session, group.id, None, data.titles),
                            depth,
                            result.respondents if result else None,
                            cells,
                        )  # type: ignore[arg-type]
                    )
                stack.extend((child, depth + 1) for child in reversed(group.children))
    for row in rows:
        row.cells = {d: row.cells.get(d) for d in sorted(drivers)}
    sections = [data.section(session, g, _title(session, g, None, data.titles)) for g in tops if g in data.results]
    return Overview(data.week_end, data.week_rounds, sections, sorted(drivers), rows)


def _title(session: Session, group_id: str, manager: Person | None, parts: dict[str, _Named] | None = None) -> str:
    """The group's title as `manager` reads it (None: as HR does). `parts` keeps each group's names
    across calls: a week's digests title about 7,500 sections of about 2,200 groups."""
    named = parts.get(group_id) if parts is not None else None
    if named is None:
        named = _names(session, group_id)
        if parts is not None:
            parts[group_id] = named
    person_id, name, has_team, team_name = named
    if group_id.startswith("org:"):
        if manager is not None and (person_id is None or person_id == manager.id):
            return "Your whole organisation"
        return f"{name if person_id is not None else 'Someone'}'s organisation"
    if manager is not None and person_id is not None and person_id == manager.id:
        who = "your direct reports"
    else:
        who = name if person_id is not None else "no manager"
    return f"{team_name if has_team else 'No team'} ({who})"


# (the organisation's manager or the unit's lead if there is one, their name, whether the unit's team exists, its name)
_Named = tuple[int | None, str | None, bool, str | None]


def _names(session: Session, group_id: str) -> _Named:
    kind, *rest = group_id.split(":")
    if kind == "org":
        person = session.get(Person, int(rest[0]))
        return (person.id, person.name, False, None) if person is not None else (None, None, False, None)
    team = session.get(Team, int(rest[0])) if rest[0] != "None" else None
    lead = session.get(Person, int(rest[1])) if rest[1] != "None" else None
    return (
        lead.id if lead is not None else None,
        lead.name if lead is not None else None,
        team is not None,
        team.name if team is not None else None,
    )


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
    if participation is not None and participation < PARTICIPATION_FLOOR:
        flags.append(f"Only {participation:.0f}% took part: low participation is a warning sign in itself")
    return flags
