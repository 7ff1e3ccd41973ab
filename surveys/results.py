"""Results of closed rounds per group of the manager hierarchy, with every anonymity rule applied.

Groups: each manager's whole organisation (everyone whose chain runs through them) and, inside it,
each unit of their direct reports. A manager's own answers count in their own manager's groups,
never in the team they lead. Only closed rounds count. A group is shown only when
`surveys.anonymity.releasable` allows it; within a shown group, a figure is shown only when each of
its questions has at least k answers (skips can make a question thinner than the group).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import CursorResult, Text, cast, select
from sqlalchemy.orm import Session

from surveys.anonymity import Group, releasable
from surveys.bank import QuestionBank
from surveys.models import PulseRound, PulseUnit, PulseValueCount
from surveys.scoring import Estimate, mean_estimate_counted, recommend_score_counted, share_at_least_counted

PERCENT_MIN = 10  # percent-style figures move in steps of 100/n


@dataclass
class GroupResult:
    id: str
    manager_id: int | None
    respondents: int
    invited: int
    figures: dict[str, Estimate] = field(default_factory=dict)

    @property
    def participation(self) -> float | None:
        return 100.0 * self.respondents / self.invited if self.invited >= 5 else None


def org_id(manager_id: int) -> str:
    return f"org:{manager_id}"


class Unit(Protocol):
    """What results read of a `PulseUnit`: the ORM row, or a `UnitRow` read as plain columns."""

    @property
    def id(self) -> int: ...
    @property
    def round_id(self) -> int: ...
    @property
    def team_id(self) -> int | None: ...
    @property
    def manager_id(self) -> int | None: ...
    @property
    def chain(self) -> list[int]: ...
    @property
    def invited(self) -> int: ...
    @property
    def responded(self) -> int: ...


class UnitRow(NamedTuple):
    id: int
    round_id: int
    team_id: int | None
    manager_id: int | None
    chain: list[int]
    invited: int
    responded: int


def unit_key(unit: Unit) -> str:
    return f"unit:{unit.team_id}:{unit.manager_id}"


def build_tree(units: Sequence[Unit], count: Callable[[Unit], int] | None = None) -> list[Group]:
    """Roots of the hierarchy: manager organisations containing sub-organisations and units.

    Each unit counts `count(unit)` (default: its respondents)."""
    count = count or (lambda unit: unit.responded)
    totals: dict[str, int] = defaultdict(int)
    for unit in units:
        totals[unit_key(unit)] += count(unit)
    return tree_of(hierarchy(units), totals)


def hierarchy(units: Sequence[Unit]) -> dict[str, str | None]:
    """Each group's parent (None at the top), in the order `build_tree` lays out children."""
    parent_of: dict[str, str | None] = {}
    for unit in units:
        chain = list(unit.chain)
        parent_of[unit_key(unit)] = org_id(chain[-1]) if chain else None
        for upper, lower in itertools.pairwise(chain):
            parent_of.setdefault(org_id(lower), org_id(upper))
        if chain:
            parent_of.setdefault(org_id(chain[0]), None)
    return parent_of


def tree_of(parent_of: Mapping[str, str | None], own: Mapping[str, int]) -> list[Group]:
    """The groups of `hierarchy(...)`, each counting `own[group]` directly; returns the roots."""
    groups: dict[str, Group] = {}
    roots: list[Group] = []
    for gid, parent in parent_of.items():
        group = groups.get(gid)
        if group is None:
            group = groups[gid] = Group(gid)
        group.own = own.get(gid, 0)
        if parent is None:
            roots.append(group)
        else:
            above = groups.get(parent)
            if above is None:
                above = groups[parent] = Group(parent)
            above.children.append(group)
    return roots


# question id → value → answers
Counts = dict[str, dict[int, int]]


@dataclass
class RoundTally:
    """What one closed round contributes to any set of rounds that contains it, per group of its
    hierarchy: whether the group may be shown, which questions it may not show, its respondents and
    invited; and its units' answers per question and value (`PulseValueCount`), summed per group on demand."""

    round_id: int
    units: Sequence[Unit]
    groups: list[list[str]]  # per unit (in order), the groups its answers count in (`_groups_of`)
    unit_counts: Mapping[int, Counts]
    shown: set[str]
    blocked: dict[str, set[str]]
    respondents: dict[str, int]
    invited: dict[str, int]
    # (group, parent) children first, when every unit's chain agrees with the tree; else None.
    upward: list[tuple[str, str]] | None = None
    # Per unit (in order), its answers per question: what suppression and the trend values both read.
    answered: list[dict[str, int]] | None = None
    shape: Shape | None = None
    _counts: dict[str, Counts] | None = None

    @property
    def counts(self) -> dict[str, Counts]:
        """Answers per question and value, by group: each unit's in its own group, then each group's
        added to its parent's, children first (`upward`); or, if some chain disagrees with the tree,
        each unit's added to every group of `_groups_of`."""
        if self._counts is None:
            counts: dict[str, Counts] = {}
            if self.upward is not None:
                for unit, groups in zip(self.units, self.groups, strict=True):
                    own = self.unit_counts.get(unit.id)
                    if own:
                        counts[groups[0]] = {question_id: dict(values) for question_id, values in own.items()}
                for gid, parent in self.upward:
                    below = counts.get(gid)
                    if below:
                        _add_counts(counts.setdefault(parent, {}), below)
            else:
                for unit, groups in zip(self.units, self.groups, strict=True):
                    own = self.unit_counts.get(unit.id, {})
                    for gid in groups:
                        _add_counts(counts.setdefault(gid, {}), own)
            self._counts = counts
        return self._counts


def _add_counts(target: Counts, more: Mapping[str, Mapping[int, int]]) -> None:
    for question_id, values in more.items():
        found = target.get(question_id)
        if found is None:
            target[question_id] = dict(values)
            continue
        for value, n in values.items():
            found[value] = found.get(value, 0) + n


@dataclass(frozen=True)
class Shape:
    """What a round's hierarchy is, whatever its answers: each group's parent, each unit's groups and
    the order to sum up the tree in, by id and by position (`index`), so that sums over the groups can
    be kept in lists. Rounds of an unchanged organisation share one (`Shapes`)."""

    parent_of: dict[str, str | None]
    groups: list[list[str]]
    upward: list[tuple[str, str]] | None
    index: dict[str, int]  # group → position
    members: list[list[int]]  # per unit, the positions of its groups (its own first)
    pairs: list[tuple[int, int]] | None  # `upward` by position

    @classmethod
    def of(cls, units: Sequence[Unit]) -> Shape:
        parent_of = hierarchy(units)
        groups = [_groups_of(unit) for unit in units]
        upward = _upward(groups, parent_of)
        index = {gid: position for position, gid in enumerate(parent_of)}
        members = [[index[gid] for gid in unit_groups] for unit_groups in groups]
        pairs = [(index[gid], index[parent]) for gid, parent in upward] if upward is not None else None
        return cls(parent_of, groups, upward, index, members, pairs)


class Shapes:
    """Shapes by the units' keys and chains: 12 weekly rounds of one organisation are usually one shape,
    worked out once instead of 12 times."""

    def __init__(self) -> None:
        self._found: dict[tuple[object, ...], Shape] = {}

    def of(self, units: Sequence[Unit]) -> Shape:
        key = tuple((unit.team_id, unit.manager_id, *unit.chain, None) for unit in units)
        shape = self._found.get(key)
        if shape is None:
            shape = self._found[key] = Shape.of(units)
        return shape


def tally_round(
    round_id: int, units: Sequence[Unit], unit_counts: Mapping[int, Counts], k: int, *, shapes: Shapes | None = None
) -> RoundTally:
    # Suppression is decided round by round (people differ between rounds); `results_from` then shows a
    # group only if every round allows it: each round's hidden parts are nobody or at least k, and so is any sum.
    shape = (shapes or Shapes()).of(units)
    parent_of, groups, upward = shape.parent_of, shape.groups, shape.upward
    respondents: dict[str, int] = defaultdict(int)
    invited: dict[str, int] = defaultdict(int)
    for unit, unit_groups in zip(units, groups, strict=True):
        responded, asked = unit.responded, unit.invited
        for gid in unit_groups:
            respondents[gid] += responded
            invited[gid] += asked
    own = _own(units, groups, lambda unit: unit.responded)
    shown: set[str] = set()
    for root in tree_of(parent_of, own):
        shown |= releasable(root, k)
    answered = [
        {question_id: sum(values.values()) for question_id, values in unit_counts.get(unit.id, {}).items()}
        for unit in units
    ]
    blocked = _blocked_questions(groups, parent_of, answered, k, shown, own)
    return RoundTally(
        round_id, units, groups, unit_counts, shown, blocked, respondents, invited, upward, answered, shape
    )


def _upward(groups: Sequence[list[str]], parent_of: Mapping[str, str | None]) -> list[tuple[str, str]] | None:
    """Child-parent pairs, deepest first, if summing up the tree gives each group exactly the units of
    `_groups_of` (each unit's chain is its path from the top of the tree); None if any chain disagrees."""
    depth: dict[str, int] = {}
    seen: set[str] = set()
    for unit_groups in groups:
        path = unit_groups[1:]  # the organisations from the top down
        if parent_of.get(unit_groups[0]) != (path[-1] if path else None):
            return None
        if path and parent_of.get(path[0]) is not None:
            return None
        for upper, lower in itertools.pairwise(path):
            if parent_of.get(lower) != upper:
                return None
        for index, gid in enumerate(path):
            if depth.setdefault(gid, index) != index:
                return None
        if depth.setdefault(unit_groups[0], len(path)) != len(path) or unit_groups[0] in seen:
            return None  # two units of one group in a round: each is added on its own, below
        seen.add(unit_groups[0])
    if len(depth) != len(parent_of):
        return None
    pairs = [(gid, parent) for gid, parent in parent_of.items() if parent is not None]
    pairs.sort(key=lambda pair: -depth[pair[0]])
    return pairs


def _own(units: Sequence[Unit], groups: Sequence[list[str]], count: Callable[[Unit], int]) -> dict[str, int]:
    """What `build_tree` counts: each unit's count in its own group (the first of its groups)."""
    own: dict[str, int] = defaultdict(int)
    for unit, unit_groups in zip(units, groups, strict=True):
        own[unit_groups[0]] += count(unit)
    return own


class ScoredQuestion(NamedTuple):
    """A question's figures (metric keys), their kind, and each answer value's part in them as an
    exact integer: a score times 2**shift for a mean, +1/0/-1 for a recommend score, 1 or 0 for a share."""

    keys: list[str]
    kind: str
    points: dict[int, int]
    shift: int


class Scoring:
    """Per question of one bank, what its answers add to its figures, exactly.

    A score is a double, an integer over a power of two: times 2**shift, where 2**shift is the largest
    denominator among the question's scores, every score of the question is an integer, so sums of
    them are exact, and dividing by 2**shift at the end rounds once, as `math.fsum` (and so `fmean`)
    does. The shift is the question's own (0 for a scale scored 0, 25, … 100; about 50 for sevenths),
    which keeps the integers to a word or two where one scale for every double (2**1074) made each of
    them 1,100 bits long."""

    def __init__(self, bank: QuestionBank) -> None:
        self.bank = bank
        self._questions: dict[str, ScoredQuestion | None] = {}
        self._scores: dict[tuple[str, int], float] = {}

    def question(self, question_id: str) -> ScoredQuestion | None:
        if question_id not in self._questions:
            question = self.bank.question(question_id)
            if question is None:
                self._questions[question_id] = None
            else:
                keys = _metric_keys(question.kind, question.pack_id, question.driver)
                kinds = {_point_kind(key) for key in keys}
                assert len(kinds) == 1, f"{question_id}: figures of different kinds"
                kind = kinds.pop()
                shift = 0
                if kind == "score":
                    for option in question.scale.options:
                        bottom = self.score(question_id, option.value).as_integer_ratio()[1]
                        shift = max(shift, bottom.bit_length() - 1)  # denominators are powers of two
                self._questions[question_id] = ScoredQuestion(keys, kind, {}, shift)
        return self._questions[question_id]

    def score(self, question_id: str, value: int) -> float:
        key = (question_id, value)
        if key not in self._scores:
            self._scores[key] = self.bank.question(question_id).score(value)  # type: ignore[union-attr]
        return self._scores[key]

    def points(self, question_id: str, values: Iterable[int]) -> dict[int, int]:
        """The question's points table, with an entry for each of `values`."""
        points = self.question(question_id).points  # type: ignore[union-attr]
        for value in values:
            if value not in points:
                self.point(question_id, value)
        return points

    def point(self, question_id: str, value: int) -> int:
        found = self.question(question_id)
        assert found is not None
        points = found.points
        if value not in points:
            if found.kind == "sign":
                points[value] = 1 if value >= 9 else -1 if value <= 6 else 0
            elif found.kind == "hit":
                points[value] = 1 if value >= 3 else 0
            else:
                top, bottom = self.score(question_id, value).as_integer_ratio()
                assert bottom <= 1 << found.shift, f"{question_id}: {value} is not on the question's scale"
                points[value] = top * ((1 << found.shift) // bottom)
        return points[value]


def _point_kind(key: str) -> str:
    return "sign" if key == "recommend" else "hit" if key == "burnout_single" else "score"


def round_values(scoring: Scoring, tally: RoundTally, k: int) -> dict[str, dict[str, float]]:
    """Each shown group's figure values in one round, without their intervals: what trends, charts and
    streaks read. The same floats as `results_from(...)[group].figures[key].value`, from the units'
    per-question sums (answers, exact points) added up the hierarchy instead of value counts."""
    return dict(RoundValues(scoring, tally, k).items())


class RoundValues(Mapping[str, dict[str, float]]):
    """`round_values`, each group's worked out when first asked for: a week's digests show a little
    over half of the groups a round may show (a manager whose organisation is one team reads it once).

    Per question, the round's answers and exact points are kept in two lists over the groups of the
    round's `Shape`: each unit's added at its own group, then each group's at its parent's, children
    first; or, when some unit's chain disagrees with the tree (`upward` is None), at each of its groups."""

    def __init__(self, scoring: Scoring, tally: RoundTally, k: int) -> None:
        self.k = k
        self.shown = tally.shown
        self.blocked = tally.blocked
        shape = tally.shape if tally.shape is not None and tally.shape.groups is tally.groups else Shape.of(tally.units)
        self.index = shape.index
        answered = tally.answered
        if answered is None:
            answered = [
                {
                    question_id: sum(values.values())
                    for question_id, values in tally.unit_counts.get(unit.id, {}).items()
                }
                for unit in tally.units
            ]
        size = len(shape.index)
        # question → (its scoring, answers per group, points per group)
        self.columns: dict[str, tuple[ScoredQuestion, list[int], list[int]]] = {}
        columns = self.columns
        skipped: set[str] = set()  # not in the bank: counted nowhere, as in `_figures`
        upward = tally.upward is not None and shape.pairs is not None
        for unit, members, per_unit in zip(tally.units, shape.members, answered, strict=True):
            own = tally.unit_counts.get(unit.id)
            if not own:
                continue
            for question_id, values in own.items():
                column = columns.get(question_id)
                if column is None:
                    if question_id in skipped:
                        continue
                    found = scoring.question(question_id)
                    if found is None:
                        skipped.add(question_id)
                        continue
                    column = columns[question_id] = (found, [0] * size, [0] * size)
                found, answers, totals = column
                points = found.points
                total = 0
                for value, n in values.items():
                    point = points.get(value)
                    total += n * (point if point is not None else scoring.point(question_id, value))
                n = per_unit[question_id]
                for position in members[:1] if upward else members:
                    answers[position] += n
                    totals[position] += total
        if upward:
            pairs = shape.pairs
            assert pairs is not None
            for _found, answers, totals in columns.values():
                for child, parent in pairs:
                    if answers[child]:
                        answers[parent] += answers[child]
                        totals[parent] += totals[child]
        self._values: dict[str, dict[str, float]] = {}
        # What `_figures` reads per question, flattened: it runs for about 15,000 groups and rounds a week.
        self._flat = [
            (question_id, found.keys, found.shift, answers, totals)
            for question_id, (found, answers, totals) in columns.items()
        ]

    def __getitem__(self, gid: str) -> dict[str, float]:
        found = self._values.get(gid)
        if found is None:
            if gid not in self.shown:
                raise KeyError(gid)
            found = self._values[gid] = self._figures(gid)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.shown)

    def __len__(self) -> int:
        return len(self.shown)

    def __contains__(self, gid: object) -> bool:
        return gid in self.shown

    def _figures(self, gid: str) -> dict[str, float]:
        position = self.index[gid]
        blocked = self.blocked.get(gid)
        keyed: dict[str, list[int]] = {}  # key → [answers, total, shift]
        thin: set[str] = set()
        k = self.k
        for question_id, keys, shift, answers, totals in self._flat:
            n = answers[position]
            if not n:
                continue  # no answers to it in this group
            if n < k or (blocked and question_id in blocked):
                thin.update(keys)  # as in `_figures`: the whole figure goes
                continue
            total = totals[position]
            for key in keys:
                summed = keyed.get(key)
                if summed is None:
                    keyed[key] = [n, total, shift]
                    continue
                summed[0] += n
                # Questions of one figure may have different shifts: add at the larger one.
                if shift == summed[2]:
                    summed[1] += total
                elif shift < summed[2]:
                    summed[1] += total << (summed[2] - shift)
                else:
                    summed[1] = (summed[1] << (shift - summed[2])) + total
                    summed[2] = shift
        figures: dict[str, float] = {}
        for key, (n, total, shift) in keyed.items():
            if key in thin:
                continue
            if key == "recommend" or key == "burnout_single":  # `_point_kind`: +1/0/-1 or 1/0 per answer
                if n >= PERCENT_MIN:
                    figures[key] = 100 * (total / n)
            else:
                figures[key] = (total / (1 << shift)) / n  # int / int: the exact sum, rounded once
        return figures


def load_tallies(
    session: Session, round_ids: Iterable[int], *, k: int, shapes: Shapes | None = None
) -> dict[int, RoundTally]:
    """Tallies of the given rounds that are closed: three queries, whatever the number of rounds."""
    wanted = list(round_ids)
    # Through the session, so that anything pending is flushed before the reads below.
    closed = list(
        session.scalars(select(PulseRound.id).where(PulseRound.id.in_(wanted), PulseRound.status == "closed"))
    )
    connection = session.connection()
    units_of: dict[int, list[Unit]] = {round_id: [] for round_id in closed}
    # Plain columns: ORM objects for 12 rounds' units would cost more than all the counting. Each chain
    # comes as its JSON text, decoded once per distinct chain: a manager's is the same every week.
    columns = (PulseUnit.id, PulseUnit.round_id, PulseUnit.team_id, PulseUnit.manager_id, cast(PulseUnit.chain, Text))
    query = select(*columns, PulseUnit.invited, PulseUnit.responded).where(PulseUnit.round_id.in_(closed))
    chains: dict[str, list[int]] = {}
    for unit_id, round_id, team_id, manager_id, chain_text, invited, responded in connection.execute(
        query.order_by(PulseUnit.id)
    ):
        chain = chains.get(chain_text)
        if chain is None:
            chain = chains[chain_text] = json.loads(chain_text)
        units_of[round_id].append(UnitRow(unit_id, round_id, team_id, manager_id, chain, invited, responded))
    query = select(PulseValueCount.unit_id, PulseValueCount.question_id, PulseValueCount.value, PulseValueCount.answers)
    unit_counts: dict[int, Counts] = {}
    for unit_id, question_id, value, n in _plain_rows(
        connection.execute(query.where(PulseValueCount.round_id.in_(closed)))
    ):
        per_unit = unit_counts.get(unit_id)
        if per_unit is None:
            per_unit = unit_counts[unit_id] = {}
        values = per_unit.get(question_id)
        if values is None:
            per_unit[question_id] = {value: n}
        else:
            values[value] = n
    shapes = shapes or Shapes()
    return {
        round_id: tally_round(round_id, units, unit_counts, k, shapes=shapes) for round_id, units in units_of.items()
    }


def _plain_rows(result: CursorResult[Any], size: int = 2000) -> Iterator[Any]:
    """The driver's own tuples, a few thousand at a time. At 10,000 people a week's digests read about
    300,000 count rows: making a SQLAlchemy `Row` of each cost more than all the counting done with
    them, and holding them all at once made the garbage collector walk them again and again. Only
    for columns that SQLAlchemy does not convert (integers and strings, on SQLite and PostgreSQL alike)."""
    try:
        while rows := result.cursor.fetchmany(size):
            yield from rows
    finally:
        result.close()


def results_from(
    bank: QuestionBank, tallies: Sequence[RoundTally], k: int, *, scoring: Scoring | None = None
) -> dict[str, GroupResult]:
    """Figures for every group that may be shown over all the given rounds together."""
    if not tallies:
        return {}
    scoring = scoring or Scoring(bank)
    shown = set.intersection(*(t.shown for t in tallies))
    results: dict[str, GroupResult] = {}
    for gid in shown:
        blocked: set[str] = set()
        for t in tallies:
            blocked |= t.blocked.get(gid, set())
        if len(tallies) == 1:
            counts = tallies[0].counts.get(gid, {})
        else:
            counts = {}
            for t in tallies:
                for question_id, values in t.counts.get(gid, {}).items():
                    target = counts.setdefault(question_id, {})
                    for value, n in values.items():
                        target[value] = target.get(value, 0) + n
        results[gid] = GroupResult(
            id=gid,
            manager_id=int(gid.split(":")[1]) if gid.startswith("org:") else None,
            # The largest single round's count: people, not answers summed over rounds.
            respondents=max(t.respondents.get(gid, 0) for t in tallies),
            invited=max(t.invited.get(gid, 0) for t in tallies),
            figures=_figures(scoring, counts, k, blocked=blocked),
        )
    return results


def group_results(session: Session, bank: QuestionBank, round_ids: Iterable[int], *, k: int) -> dict[str, GroupResult]:
    """Figures for every group that may be shown, over the given (closed) rounds."""
    tallies = load_tallies(session, round_ids, k=k)
    return results_from(bank, list(tallies.values()), k)


def _blocked_questions(
    groups: Sequence[list[str]],
    parent_of: Mapping[str, str | None],
    answered: Sequence[Mapping[str, int]],
    k: int,
    shown: set[str],
    responded: Mapping[str, int],
) -> dict[str, set[str]]:
    """Questions whose answers a group this round shows may not show, by group.

    People skip questions, so a question can have fewer answers than the group has respondents, and a
    parent's answers minus its children's could isolate a handful. The same suppression therefore runs
    per question, on answer counts (each person answers a question at most once per round). Groups
    the round does not show are left out: no set of rounds shows them (`results_from`).
    `answered` is, per unit in the order of `groups`, its answers per question.
    """
    blocked: dict[str, set[str]] = defaultdict(set)
    per_question: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit_groups, per_unit in zip(groups, answered, strict=True):
        for question_id, n in per_unit.items():
            per_question[question_id][unit_groups[0]] += n
    everyone = {gid: n for gid, n in responded.items() if n}  # the tree that decided `shown`
    for question_id, counted in per_question.items():
        own = {gid: n for gid, n in counted.items() if n}
        if own == everyone:
            continue  # everyone answered it: the same counts release the same groups, all of `shown`
        released: set[str] = set()
        for root in tree_of(parent_of, own):
            released |= releasable(root, k)
        for unit_groups in groups:
            if own.get(unit_groups[0]):
                for gid in unit_groups:
                    if gid in shown and gid not in released:
                        blocked[gid].add(question_id)
    return blocked


def _groups_of(unit: Unit) -> list[str]:
    """The groups a unit's answers count in: its own, and the organisation of each manager above it."""
    return [unit_key(unit), *(org_id(manager) for manager in unit.chain)]


def _figures(scoring: Scoring, counts: Counts, k: int, *, blocked: set[str]) -> dict[str, Estimate]:
    scored: dict[str, dict[float, int]] = {}
    raw: dict[str, dict[int, int]] = {}
    thin: set[str] = set()
    for question_id, values in counts.items():
        found = scoring.question(question_id)
        if found is None:
            continue
        keys = found[0]
        if sum(values.values()) < k or question_id in blocked:
            # The whole figure goes, not just this question: a figure built from fewer questions than its
            # parent's could be subtracted from it.
            thin.update(keys)
            continue
        for key in keys:
            scores = scored.setdefault(key, {})
            answers = raw.setdefault(key, {})
            for value, n in values.items():
                score = scoring.score(question_id, value)
                scores[score] = scores.get(score, 0) + n
                answers[value] = answers.get(value, 0) + n
    figures: dict[str, Estimate] = {}
    for key, scores in scored.items():
        if key in thin:
            continue
        answered = sum(raw[key].values())
        if key == "recommend":
            estimate = recommend_score_counted(raw[key]) if answered >= PERCENT_MIN else None
        elif key == "burnout_single":
            estimate = share_at_least_counted(raw[key], 3) if answered >= PERCENT_MIN else None
        else:
            estimate = mean_estimate_counted(scores)
        if estimate is not None:
            figures[key] = estimate
    return figures


def _metric_keys(kind: str, pack_id: str, driver: str) -> list[str]:
    if kind == "engagement":
        return ["engagement", f"driver:{driver}"]
    if pack_id == "cbi_work":
        return ["burnout"]
    if pack_id == "burnout_single":
        return ["burnout_single"]
    if kind == "recommend":
        return ["recommend"]
    return [kind]
