"""Which questions a round asks: the ones people have gone longest without seeing (Peakon style).

Everyone in one reporting unit gets the same questions in a round. If each person got their own
set, the rotation bookkeeping ("Ana was asked q3 this round") together with the answers
("unit U has one q3 answer") would tell a database reader whose answer it is. So staleness is
counted per person and summed over the unit, and the unit's stalest questions are asked.

A share of every round goes to burnout items, so a team's monthly burnout score has enough
answers behind it; the rest rotates through the engagement drivers, one item per driver at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Protocol

NEVER_SEEN_DAYS = 100_000


class RotatableQuestion(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def driver(self) -> str: ...


def burnout_slots(total: int, burnout_items: int) -> int:
    """Two in five, at least one, never more than there are."""
    if burnout_items == 0 or total == 0:
        return 0
    return min(burnout_items, max(1, (2 * total) // 5))


def staleness(question_id: str, exposures: Sequence[Mapping[str, date]], today: date) -> int:
    return sum((today - seen[question_id]).days if question_id in seen else NEVER_SEEN_DAYS for seen in exposures)


def choose_questions(
    questions: Sequence[RotatableQuestion], exposures: Sequence[Mapping[str, date]], total: int, today: date
) -> list[str]:
    """Ids of the questions to ask a unit, in bank order. `exposures` holds one mapping per member."""
    order = {q.id: i for i, q in enumerate(questions)}
    burnout = [q for q in questions if q.kind == "burnout"]
    others = [q for q in questions if q.kind != "burnout"]
    wanted_burnout = burnout_slots(total, len(burnout))
    chosen = _stalest(burnout, exposures, today, wanted_burnout, order)
    chosen += _stalest(others, exposures, today, total - len(chosen), order)
    if len(chosen) < total:  # few non-burnout items on: fill with more burnout items
        rest = [q for q in burnout if q.id not in chosen]
        chosen += _stalest(rest, exposures, today, total - len(chosen), order)
    return sorted(chosen, key=order.__getitem__)


def _stalest(
    candidates: Sequence[RotatableQuestion],
    exposures: Sequence[Mapping[str, date]],
    today: date,
    count: int,
    order: Mapping[str, int],
) -> list[str]:
    ranked = sorted(candidates, key=lambda q: (-staleness(q.id, exposures, today), order[q.id]))
    chosen: list[str] = []
    drivers: set[str] = set()
    # First pass: one per driver, so a round spreads over drivers; second pass fills up.
    for question in ranked:
        if len(chosen) < count and question.driver not in drivers:
            chosen.append(question.id)
            drivers.add(question.driver)
    for question in ranked:
        if len(chosen) < count and question.id not in chosen:
            chosen.append(question.id)
    return chosen
