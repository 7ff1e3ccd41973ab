"""Rotation: every driver comes round within a few rounds, and burnout items come every round."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.rotation import burnout_slots, choose_questions


@dataclass(frozen=True)
class Q:
    id: str
    kind: str
    driver: str


@st.composite
def banks(draw: st.DrawFn) -> list[Q]:
    drivers = draw(st.integers(1, 10))
    per_driver = draw(st.integers(1, 3))
    burnout = draw(st.integers(0, 8))
    questions = [Q(f"e{d}.{i}", "engagement", f"driver{d}") for d in range(drivers) for i in range(per_driver)]
    return questions + [Q(f"b{i}", "burnout", "burnout") for i in range(burnout)]


@settings(max_examples=200, deadline=None)
@given(bank=banks(), total=st.integers(3, 15), members=st.integers(1, 6))
def test_every_driver_is_covered_within_a_bounded_number_of_rounds(bank: list[Q], total: int, members: int) -> None:
    exposures: list[dict[str, date]] = [{} for _ in range(members)]
    others = [q for q in bank if q.kind != "burnout"]
    burnout = [q for q in bank if q.kind == "burnout"]
    slots_for_others = max(1, total - burnout_slots(total, len(burnout)))
    rounds = math.ceil(len(others) / slots_for_others) if others else 1
    seen_drivers: set[str] = set()
    day = date(2026, 1, 5)
    for _ in range(rounds):
        chosen = choose_questions(bank, exposures, total, day)
        assert len(chosen) == min(total, len(bank))
        assert len(set(chosen)) == len(chosen)
        if burnout:
            assert any(q.startswith("b") for q in chosen), "every round asks about burnout"
        seen_drivers |= {q.driver for q in bank if q.id in chosen}
        for seen in exposures:
            seen.update(dict.fromkeys(chosen, day))
        day += timedelta(days=7)
    assert {q.driver for q in others} <= seen_drivers


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(bank=banks(), total=st.integers(1, 15), data=st.data())
def test_the_question_gone_longest_unseen_is_always_asked(bank: list[Q], total: int, data: st.DataObject) -> None:
    day = date(2026, 3, 2)
    members = data.draw(st.integers(1, 4))
    exposures = [
        {q.id: day - timedelta(days=data.draw(st.integers(1, 400))) for q in bank if data.draw(st.booleans())}
        for _ in range(members)
    ]
    chosen = choose_questions(bank, exposures, total, day)
    for group in ([q for q in bank if q.kind == "burnout"], [q for q in bank if q.kind != "burnout"]):
        if not group or not any(q.id in chosen for q in group):
            continue
        stalest = max(group, key=lambda q: sum((day - e[q.id]).days if q.id in e else 100_000 for e in exposures))
        age = sum((day - e[stalest.id]).days if stalest.id in e else 100_000 for e in exposures)
        asked_ages = [
            sum((day - e[q.id]).days if q.id in e else 100_000 for e in exposures) for q in group if q.id in chosen
        ]
        assert max(asked_ages) == age


def test_burnout_gets_two_in_five() -> None:
    assert [burnout_slots(n, 8) for n in (1, 3, 5, 10, 15)] == [1, 1, 2, 4, 6]
    assert burnout_slots(5, 0) == 0
    assert burnout_slots(15, 2) == 2
