"""Results of closed rounds per group of the manager hierarchy, with every anonymity rule applied.

Groups: each manager's whole organisation (everyone whose chain runs through them) and, inside it,
each unit of their direct reports. A manager's own answers count in their own manager's groups,
never in the team they lead. Only closed rounds count. A group is shown only when
`surveys.anonymity.releasable` allows it; within a shown group, a figure is shown only when each of
its questions has at least k answers (skips can make a question thinner than the group).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.anonymity import Group, releasable
from surveys.bank import QuestionBank
from surveys.models import PulseAnswer, PulseRound, PulseUnit
from surveys.scoring import Estimate, mean_estimate, recommend_score, share_at_least

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


def unit_key(unit: PulseUnit) -> str:
    return f"unit:{unit.team_id}:{unit.manager_id}"


def build_tree(units: Sequence[PulseUnit], count: Callable[[PulseUnit], int] | None = None) -> list[Group]:
    """Roots of the hierarchy: manager organisations containing sub-organisations and units.

    Each unit counts `count(unit)` (default: its respondents)."""
    count = count or (lambda unit: unit.responded)
    groups: dict[str, Group] = {}
    roots: list[Group] = []

    def node(gid: str) -> Group:
        if gid not in groups:
            groups[gid] = Group(gid)
        return groups[gid]

    totals: dict[str, int] = defaultdict(int)
    parent_of: dict[str, str | None] = {}
    for unit in units:
        key = unit_key(unit)
        totals[key] += count(unit)
        chain = list(unit.chain)
        parent_of[key] = org_id(chain[-1]) if chain else None
        for upper, lower in itertools.pairwise(chain):
            parent_of.setdefault(org_id(lower), org_id(upper))
        if chain:
            parent_of.setdefault(org_id(chain[0]), None)
    for gid, parent in parent_of.items():
        group = node(gid)
        group.own = totals.get(gid, 0)
        if parent is None:
            roots.append(group)
        else:
            node(parent).children.append(group)
    return roots


def group_results(session: Session, bank: QuestionBank, round_ids: Iterable[int], *, k: int) -> dict[str, GroupResult]:
    """Figures for every group that may be shown, over the given (closed) rounds."""
    rounds = session.scalars(
        select(PulseRound).where(PulseRound.id.in_(list(round_ids)), PulseRound.status == "closed")
    )
    round_ids = [r.id for r in rounds]
    units = list(session.scalars(select(PulseUnit).where(PulseUnit.round_id.in_(round_ids))))
    # Suppression is decided round by round (people differ between rounds) and a group is shown only if
    # every round allows it: then each round's hidden parts are nobody or at least k, and so is any sum.
    shown: set[str] | None = None
    for round_id in round_ids:
        allowed: set[str] = set()
        for root in build_tree([u for u in units if u.round_id == round_id]):
            allowed |= releasable(root, k)
        shown = allowed if shown is None else shown & allowed
    shown = shown or set()
    members = _units_by_group(units)
    answers_by_unit: dict[int, list[PulseAnswer]] = defaultdict(list)
    # Columns, not ORM objects: a digest run reads millions of answers and needs three fields of each.
    query = select(PulseAnswer.unit_id, PulseAnswer.question_id, PulseAnswer.value)
    for answer in session.execute(query.where(PulseAnswer.round_id.in_(round_ids))):
        answers_by_unit[answer.unit_id].append(answer)  # type: ignore[arg-type]
    blocked = _blocked_questions(units, answers_by_unit, round_ids, k)
    results: dict[str, GroupResult] = {}
    for gid in shown:
        group_units = members[gid]
        result = GroupResult(
            id=gid,
            manager_id=int(gid.split(":")[1]) if gid.startswith("org:") else None,
            # The largest single round's count: people, not answers summed over rounds.
            respondents=_per_round_max(group_units, "responded"),
            invited=_per_round_max(group_units, "invited"),
        )
        answers = [a for u in group_units for a in answers_by_unit[u.id]]
        result.figures = _figures(bank, answers, k, blocked=blocked.get(gid, set()))
        results[gid] = result
    return results


def _blocked_questions(
    units: Sequence[PulseUnit], answers_by_unit: Mapping[int, list[PulseAnswer]], round_ids: Sequence[int], k: int
) -> dict[str, set[str]]:
    """Questions whose answers a group may not show, by group.

    People skip questions, so a question can have fewer answers than the group has respondents, and a
    parent's answers minus its children's could isolate a handful. The same suppression therefore runs
    per question, on answer counts (each person answers a question at most once per round).
    """
    blocked: dict[str, set[str]] = defaultdict(set)
    for round_id in round_ids:
        round_units = [u for u in units if u.round_id == round_id]
        counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for unit in round_units:
            for answer in answers_by_unit.get(unit.id, []):
                if answer.value is not None:
                    counts[answer.question_id][unit.id] += 1
        for question_id, per_unit in counts.items():
            released: set[str] = set()
            for root in build_tree(round_units, lambda unit, per_unit=per_unit: per_unit.get(unit.id, 0)):
                released |= releasable(root, k)
            for gid in _units_by_group([u for u in round_units if per_unit.get(u.id)]):
                if gid not in released:
                    blocked[gid].add(question_id)
    return blocked


def _per_round_max(units: Sequence[PulseUnit], field_name: str) -> int:
    per_round: dict[int, int] = defaultdict(int)
    for unit in units:
        per_round[unit.round_id] += getattr(unit, field_name)
    return max(per_round.values(), default=0)


def _units_by_group(units: Sequence[PulseUnit]) -> dict[str, list[PulseUnit]]:
    members: dict[str, list[PulseUnit]] = defaultdict(list)
    for unit in units:
        members[unit_key(unit)].append(unit)
        for manager in unit.chain:
            members[org_id(manager)].append(unit)
    return members


def _figures(bank: QuestionBank, answers: Sequence[PulseAnswer], k: int, *, blocked: set[str]) -> dict[str, Estimate]:
    by_question: dict[str, list[int]] = defaultdict(list)
    for answer in answers:
        if answer.value is not None:
            by_question[answer.question_id].append(answer.value)
    scored: dict[str, list[float]] = defaultdict(list)
    raw: dict[str, list[int]] = defaultdict(list)
    thin: set[str] = set()
    for question_id, values in by_question.items():
        question = bank.question(question_id)
        if question is None:
            continue
        keys = _metric_keys(question.kind, question.pack_id, question.driver)
        if len(values) < k or question_id in blocked:
            # The whole figure goes, not just this question: a figure built from fewer questions than its
            # parent's could be subtracted from it.
            thin.update(keys)
            continue
        score_of = {v: question.score(v) for v in set(values)}
        for key in keys:
            scored[key] += [score_of[v] for v in values]
            raw[key] += values
    figures: dict[str, Estimate] = {}
    for key, values in scored.items():
        if key in thin:
            continue
        if key == "recommend":
            estimate = recommend_score(raw[key]) if len(raw[key]) >= PERCENT_MIN else None
        elif key == "burnout_single":
            estimate = share_at_least(raw[key], 3) if len(raw[key]) >= PERCENT_MIN else None
        else:
            estimate = mean_estimate(values)
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
