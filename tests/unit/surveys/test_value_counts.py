"""Results from per-round value counts (#18) against the algorithm they replaced, which read every
answer row: the same groups shown, the same figures hidden, the same values to the last bit and the
same intervals up to summation order; trends' values the same whichever way they are added up; and
the counts written at close match the answers."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from surveys.anonymity import releasable
from surveys.bank import Option, Pack, Question, QuestionBank, Scale
from surveys.models import PulseAnswer, PulseValueCount
from surveys.results import (
    PERCENT_MIN,
    Counts,
    Scoring,
    UnitRow,
    _metric_keys,
    build_tree,
    org_id,
    results_from,
    round_values,
    tally_round,
    unit_key,
)
from surveys.scoring import Estimate, exact_sum, mean_estimate, pstdev_exact, recommend_score, share_at_least
from tests.unit.surveys.test_results import build_org, run_round

BANK = QuestionBank.builtin()
# Questions of every kind of figure: means (engagement and its drivers, CBI burnout, WHO-5), the
# recommend score and the single-item burnout share.
QUESTIONS = [
    q.id
    for pack in ("engagement", "cbi_work", "burnout_single", "recommend", "who5")
    for q in BANK.questions([pack])[:4]
]

Answer = tuple[int, str, int]  # unit id, question id, value


def reference(
    units: Sequence[UnitRow], answers: Sequence[Answer], k: int
) -> dict[str, tuple[int, int, dict[str, Estimate]]]:
    """`surveys.results.group_results` as it was before value counts, over answer rows in memory."""
    round_ids = sorted({u.round_id for u in units})
    shown: set[str] | None = None
    for round_id in round_ids:
        allowed: set[str] = set()
        for root in build_tree([u for u in units if u.round_id == round_id]):
            allowed |= releasable(root, k)
        shown = allowed if shown is None else shown & allowed
    members: dict[str, list[UnitRow]] = defaultdict(list)
    for unit in units:
        members[unit_key(unit)].append(unit)
        for manager in unit.chain:
            members[org_id(manager)].append(unit)
    by_unit: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_unit[answer[0]].append(answer)
    blocked: dict[str, set[str]] = defaultdict(set)
    for round_id in round_ids:
        round_units = [u for u in units if u.round_id == round_id]
        counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for unit in round_units:
            for _, question_id, _value in by_unit.get(unit.id, []):
                counts[question_id][unit.id] += 1
        for question_id, per_unit in counts.items():
            released: set[str] = set()
            for root in build_tree(round_units, lambda unit, per_unit=per_unit: per_unit.get(unit.id, 0)):  # type: ignore[misc]
                released |= releasable(root, k)
            for unit in round_units:
                if per_unit.get(unit.id):
                    for gid in [unit_key(unit), *(org_id(m) for m in unit.chain)]:
                        if gid not in released:
                            blocked[gid].add(question_id)
    results = {}
    for gid in shown or set():
        group_units = members[gid]
        per_round: dict[str, dict[int, int]] = {"responded": defaultdict(int), "invited": defaultdict(int)}
        for unit in group_units:
            per_round["responded"][unit.round_id] += unit.responded
            per_round["invited"][unit.round_id] += unit.invited
        values = [a for u in group_units for a in by_unit[u.id]]
        results[gid] = (
            max(per_round["responded"].values(), default=0),
            max(per_round["invited"].values(), default=0),
            _reference_figures(values, k, blocked.get(gid, set())),
        )
    return results


def _reference_figures(answers: Sequence[Answer], k: int, blocked: set[str]) -> dict[str, Estimate]:
    by_question: dict[str, list[int]] = defaultdict(list)
    for _, question_id, value in answers:
        by_question[question_id].append(value)
    scored: dict[str, list[float]] = defaultdict(list)
    raw: dict[str, list[int]] = defaultdict(list)
    thin: set[str] = set()
    for question_id, values in by_question.items():
        question = BANK.question(question_id)
        assert question is not None
        keys = _metric_keys(question.kind, question.pack_id, question.driver)
        if len(values) < k or question_id in blocked:
            thin.update(keys)
            continue
        for key in keys:
            scored[key] += [question.score(v) for v in values]
            raw[key] += values
    figures = {}
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


@st.composite
def rounds(
    draw: st.DrawFn, bank: QuestionBank = BANK, questions: Sequence[str] = QUESTIONS
) -> tuple[list[UnitRow], list[Answer]]:
    """One to three rounds over a random hierarchy: units of 0–12 people who answer or skip."""
    managers = draw(st.integers(1, 9))
    parents = [None] + [draw(st.integers(0, m - 1)) for m in range(1, managers)]

    def chain(manager: int) -> list[int]:
        path = [manager]
        while parents[path[0]] is not None:
            path.insert(0, parents[path[0]])  # type: ignore[arg-type]
        return [100 + m for m in path]

    units: list[UnitRow] = []
    answers: list[Answer] = []
    for round_id in range(1, draw(st.integers(1, 3)) + 1):
        asked = draw(st.lists(st.sampled_from(questions), min_size=1, max_size=6, unique=True))
        for manager in range(managers):
            people = draw(st.integers(0, 12))
            unit = UnitRow(len(units) + 1, round_id, manager, 100 + manager, chain(manager), people + 1, people)
            units.append(unit)
            for _person in range(people):
                for question_id in asked:
                    if draw(st.integers(0, 5)) == 0:
                        continue  # skipped
                    options = bank.question(question_id).scale.options  # type: ignore[union-attr]
                    answers.append((unit.id, question_id, draw(st.sampled_from(options)).value))
    return units, answers


def _counted(answers: Sequence[Answer]) -> dict[int, Counts]:
    counts: dict[int, Counts] = defaultdict(dict)
    for (unit_id, question_id, value), n in Counter(answers).items():
        counts[unit_id].setdefault(question_id, {})[value] = n
    return counts


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(), st.sampled_from([3, 5]))
def test_counts_give_what_the_answers_gave(drawn: tuple[list[UnitRow], list[Answer]], k: int) -> None:
    units, answers = drawn
    counts = _counted(answers)
    by_round: dict[int, list[UnitRow]] = defaultdict(list)
    for unit in units:
        by_round[unit.round_id].append(unit)
    tallies = [tally_round(r, round_units, counts, k) for r, round_units in sorted(by_round.items())]
    scoring = Scoring(BANK)
    expected = reference(units, answers, k)
    found = results_from(BANK, tallies, k, scoring=scoring)
    assert set(found) == set(expected)
    for gid, (respondents, invited, figures) in expected.items():
        assert (found[gid].respondents, found[gid].invited) == (respondents, invited)
        assert set(found[gid].figures) == set(figures)
        for key, estimate in figures.items():
            got = found[gid].figures[key]
            assert (got.value, got.n) == (estimate.value, estimate.n)  # the very same float
            assert _close(got.low, estimate.low) and _close(got.high, estimate.high)
            assert got.unanimous == estimate.unanimous
    # Each round alone: the values trends and charts read, added up the tree or unit by unit.
    for tally in tallies:
        full = results_from(BANK, [tally], k, scoring=scoring)
        want = {gid: {key: e.value for key, e in r.figures.items()} for gid, r in full.items()}
        assert round_values(scoring, tally, k) == want
        tally.upward = None
        assert round_values(scoring, tally, k) == want


def _linear(scale_id: str, values: int) -> Scale:
    options = tuple(Option(v, str(v), 100.0 * v / (values - 1)) for v in range(values))
    return Scale(scale_id, "select", options)


# Built-in scales all score in whole numbers; a scale in thirds, sixths or tenths scores in doubles
# with different powers of two below them, and one figure (a driver, engagement) can mix them.
FRACTIONAL = QuestionBank(
    [
        Pack(
            "fractions",
            "Fractions",
            "",
            "",
            "",
            "engagement",
            False,
            tuple(
                Question(f"fractions.q{n}", "fractions", "?", driver, "engagement", scale, reverse)
                for n, (driver, scale, reverse) in enumerate(
                    [
                        ("growth", _linear("thirds", 4), False),
                        ("growth", _linear("sixths", 7), True),
                        ("growth", _linear("fifths", 6), False),
                        ("workload", _linear("tenths", 11), False),
                        ("workload", _linear("halves", 3), True),
                    ]
                )
            ),
        )
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(FRACTIONAL, [q.id for q in FRACTIONAL.questions(["fractions"])]), st.sampled_from([3, 5]))
def test_round_values_are_exact_when_scores_are_not_whole(drawn: tuple[list[UnitRow], list[Answer]], k: int) -> None:
    """Each question's points are scaled by its own power of two; a figure adding questions of
    different scales must still give the float that the value counts give (exact sum, one rounding)."""
    units, answers = drawn
    counts = _counted(answers)
    by_round: dict[int, list[UnitRow]] = defaultdict(list)
    for unit in units:
        by_round[unit.round_id].append(unit)
    scoring = Scoring(FRACTIONAL)
    assert {scoring.question(q.id).shift for q in FRACTIONAL.questions(["fractions"])} != {0}  # type: ignore[union-attr]
    for round_id, round_units in sorted(by_round.items()):
        tally = tally_round(round_id, round_units, counts, k)
        full = results_from(FRACTIONAL, [tally], k, scoring=scoring)
        want = {gid: {key: e.value for key, e in r.figures.items()} for gid, r in full.items()}
        assert round_values(scoring, tally, k) == want
        tally.upward = None
        assert round_values(scoring, tally, k) == want


@given(st.lists(st.sampled_from([0.0, 25.0, 50.0, 100 / 3, 200 / 3, 62.5, 41.66666666666667]), min_size=1, max_size=12))
def test_exact_sums_and_spreads_are_the_library_floats(values: list[float]) -> None:
    counted = Counter(values)
    assert exact_sum(counted.items()) == math.fsum(values)
    assert pstdev_exact(values) == statistics.pstdev(values)


def test_a_round_closes_with_its_counts(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        build_org(session, session.merge(workspace))
    # Half of Marcus's team skips everything: skips are not counted.
    round_id = run_round(session_factory, workspace, {"p0": None, "p1": None, "marcus": 1}, date(2026, 11, 23))
    with session_factory() as session:
        answered = session.execute(
            select(PulseAnswer.unit_id, PulseAnswer.question_id, PulseAnswer.value, func.count())
            .where(PulseAnswer.round_id == round_id, PulseAnswer.value.is_not(None))
            .group_by(PulseAnswer.unit_id, PulseAnswer.question_id, PulseAnswer.value)
        ).all()
        counted = session.execute(
            select(
                PulseValueCount.unit_id, PulseValueCount.question_id, PulseValueCount.value, PulseValueCount.answers
            ).where(PulseValueCount.round_id == round_id)
        ).all()
    assert answered and sorted(map(tuple, counted)) == sorted(map(tuple, answered))
