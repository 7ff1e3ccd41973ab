"""How participation and unanimous figures are worded, so that neither tells on one person."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.slack.render.digest import participation_in_words
from surveys.scoring import mean_estimate


@given(invited=st.integers(min_value=5, max_value=500))
def test_everyone_answered_reads_exactly_like_all_but_one(invited: int) -> None:
    # A manager who knows the names must not learn from "6 of 6" that each of them answered.
    assert participation_in_words(invited, invited) == participation_in_words(invited - 1, invited)
    assert f"{invited} of {invited}" not in (participation_in_words(invited, invited) or "")


@given(invited=st.integers(min_value=5, max_value=500), data=st.data())
def test_other_participation_is_exact(invited: int, data: st.DataObject) -> None:
    respondents = data.draw(st.integers(min_value=0, max_value=invited - 2))
    assert participation_in_words(respondents, invited) == (
        f"{100 * respondents / invited:.0f}% ({respondents} of {invited})"
    )


def test_small_groups_show_no_participation() -> None:
    assert participation_in_words(4, 4) is None


def test_a_unanimous_figure_says_so_instead_of_a_zero_width_range() -> None:
    unanimous = mean_estimate([0.0] * 6)
    assert unanimous is not None and unanimous.in_words() == "0, every answer the same"
    mixed = mean_estimate([0.0, 25.0, 0.0, 0.0, 0.0])
    assert mixed is not None and "likely between" in mixed.in_words()
