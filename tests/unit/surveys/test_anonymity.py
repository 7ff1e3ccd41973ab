"""No released figure lets anyone recompute a group smaller than k, for any hierarchy and any counts."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.anonymity import Group, hidden_remainders, releasable, tree_from_parents


@st.composite
def trees(draw: st.DrawFn, max_nodes: int = 10) -> Group:
    size = draw(st.integers(1, max_nodes))
    parents = {"g0": None} | {f"g{i}": f"g{draw(st.integers(0, i - 1))}" for i in range(1, size)}
    counts = {gid: draw(st.integers(0, 12)) for gid in parents}
    return tree_from_parents(counts, parents)[0]


def nodes(group: Group) -> list[Group]:
    return [group, *(n for c in group.children for n in nodes(c))]


def descendants(group: Group) -> set[str]:
    return {n.id for n in nodes(group)} - {group.id}


@settings(max_examples=400, deadline=None)
@given(root=trees(), k=st.integers(3, 10))
def test_every_shown_group_has_k_and_hides_nobody_or_at_least_k(root: Group, k: int) -> None:
    shown = releasable(root, k)
    by_id = {n.id: n for n in nodes(root)}
    for gid in shown:
        assert by_id[gid].total >= k
    for gid, remainder in hidden_remainders(root, shown).items():
        assert remainder == 0 or remainder >= k, (gid, remainder)


@settings(max_examples=300, deadline=None)
@given(root=trees(max_nodes=8), k=st.integers(3, 8))
def test_no_difference_of_shown_figures_isolates_fewer_than_k(root: Group, k: int) -> None:
    """Brute force: a shown group minus any set of disjoint shown groups inside it is 0 or at least k."""
    shown = releasable(root, k)
    by_id = {n.id: n for n in nodes(root)}
    for gid in shown:
        inside = [by_id[d] for d in descendants(by_id[gid]) if d in shown]
        for size in range(1, len(inside) + 1):
            for subset in combinations(inside, size):
                ids = [g.id for g in subset]
                if any(a in descendants(by_id[b]) for a in ids for b in ids):
                    continue  # overlapping groups: not a partition, so not a valid difference
                rest = by_id[gid].total - sum(g.total for g in subset)
                assert rest == 0 or rest >= k, (gid, ids, rest)


@settings(max_examples=200, deadline=None)
@given(root=trees(), k=st.integers(3, 10))
def test_a_large_enough_organisation_is_always_shown(root: Group, k: int) -> None:
    assert (root.id in releasable(root, k)) == (root.total >= k)


def test_a_hand_worked_example() -> None:
    # Marcus's org: team A has 6, team B has 4, he counts himself in his own parent (own = 0 here).
    root = Group("marcus", own=0, children=[Group("a", own=6), Group("b", own=4)])
    assert releasable(root, 5) == {"marcus"}  # B is too small, and showing A would give B away
    root = Group("marcus", own=0, children=[Group("a", own=6), Group("b", own=4), Group("c", own=7)])
    assert releasable(root, 5) == {"marcus", "c"}  # hide A with B: 10 hidden, fine
    root = Group("marcus", own=0, children=[Group("a", own=6), Group("b", own=9)])
    assert releasable(root, 5) == {"marcus", "a", "b"}


def test_k_below_three_is_refused() -> None:
    with pytest.raises(ValueError, match="below 3"):
        releasable(Group("g", own=10), 2)
