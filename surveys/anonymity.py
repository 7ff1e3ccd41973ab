"""Which groups' results may be shown: the k threshold and complementary suppression.

The reporting hierarchy is a tree of groups (a manager's whole organisation, down to single units).
A group's count is the number of people who answered in it. A group is shown only if its count is
at least k. That is not enough on its own: if a parent is shown and all but one of its parts are
shown, the hidden part is the parent minus the others. So, at every shown group, the part that is
*not* shown (hidden children plus people who belong to the group directly) must be either nobody
or at least k people; if it is not, more children are hidden, smallest first, until it is.

Because this holds at every level, any sum or difference of shown figures that isolates hidden
people isolates a sum of such parts, each nobody or at least k, so it is itself nobody or at least k.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MIN_K = 3


@dataclass
class Group:
    """`own` counts people who belong to this group directly (not through a child group)."""

    id: str
    own: int = 0
    children: list[Group] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.own + sum(c.total for c in self.children)


def check_k(k: int) -> int:
    if k < MIN_K:
        raise ValueError(f"the anonymity threshold can't be below {MIN_K}")
    return k


def releasable(root: Group, k: int) -> set[str]:
    """Ids of the groups whose figures may be shown."""
    check_k(k)
    shown: set[str] = set()
    totals: dict[int, int] = {}
    _count(root, totals)
    _release(root, k, shown, totals)
    return shown


def _count(group: Group, totals: dict[int, int]) -> int:
    # Counted once, bottom up, by object identity: `Group.total` recomputes the whole subtree each time.
    totals[id(group)] = group.own + sum(_count(c, totals) for c in group.children)
    return totals[id(group)]


def _release(group: Group, k: int, shown: set[str], totals: dict[int, int]) -> None:
    total = totals[id(group)]
    if total < k:
        return  # nothing under a hidden group is shown either: they are all smaller than it
    shown.add(group.id)
    visible = [c for c in group.children if totals[id(c)] >= k]
    hidden = total - sum(totals[id(c)] for c in visible)
    # Hide the smallest visible children until what is hidden is nobody or at least k people.
    for child in sorted(visible, key=lambda c: (totals[id(c)], c.id)):
        if hidden == 0 or hidden >= k:
            break
        visible.remove(child)
        hidden += totals[id(child)]
    for child in visible:
        _release(child, k, shown, totals)


def hidden_remainders(root: Group, shown: set[str]) -> dict[str, int]:
    """For each shown group: how many people are in it but in no shown child (for checks and tests)."""
    remainders: dict[str, int] = {}

    def walk(group: Group) -> None:
        if group.id in shown:
            remainders[group.id] = group.total - sum(c.total for c in group.children if c.id in shown)
        for child in group.children:
            walk(child)

    walk(root)
    return remainders


def tree_from_parents(counts: Mapping[str, int], parents: Mapping[str, str | None]) -> list[Group]:
    """Build groups from `{id: own count}` and `{id: parent id}`; returns the roots."""
    groups = {gid: Group(gid, own=counts.get(gid, 0)) for gid in set(counts) | set(parents)}
    roots: list[Group] = []
    for gid, group in sorted(groups.items()):
        parent = parents.get(gid)
        if parent is None:
            roots.append(group)
        else:
            groups[parent].children.append(group)
    return roots


def shown_comments(count: int, k_comments: int) -> bool:
    return count >= k_comments


def percent_figure_allowed(count: int, minimum: int = 10) -> bool:
    """Percent-style figures move in steps of 100/n: only from n ≥ 10."""
    return count >= minimum
