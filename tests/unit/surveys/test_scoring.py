"""Scores against hand-computed examples, and EWMA trends that signal only on real change."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.bank import QuestionBank
from surveys.scoring import cbi_band, ewma_trend, mean_estimate, recommend_score, share_at_least, t_critical


def test_cbi_scores_with_the_reverse_item() -> None:
    bank = QuestionBank.builtin()
    exhausting = bank.question("cbi_work.cbi_w1")
    energy = bank.question("cbi_work.cbi_w7")
    assert exhausting is not None and energy is not None
    # "To a high degree" on item 1 scores 75; "Always" enough energy on item 7 is the best case: 0.
    scores = [exhausting.scale.score(2), energy.scale.score(1, reverse=energy.reverse)]
    assert scores == [75.0, 0.0]
    assert mean_estimate(scores).value == pytest.approx(37.5)


def test_mean_interval_by_hand() -> None:
    # 50, 60, 70: mean 60, sd 10, t(2) = 4.303, half-width 4.303 × 10 / √3 = 24.84
    estimate = mean_estimate([50, 60, 70])
    assert estimate is not None
    assert (estimate.value, estimate.n) == (60, 3)
    assert estimate.low == pytest.approx(60 - 24.844, abs=0.01)
    assert estimate.high == pytest.approx(60 + 24.844, abs=0.01)
    assert estimate.in_words() == "60, likely between 35 and 85"


def test_intervals_stay_on_the_scale_and_edge_cases() -> None:
    assert mean_estimate([]) is None
    single = mean_estimate([80])
    assert single is not None and (single.low, single.high) == (0, 100)
    near_top = mean_estimate([100, 100, 90])
    assert near_top is not None and near_top.high == 100
    assert t_critical(1) == 12.706 and t_critical(200) == pytest.approx(1.96, abs=0.001)
    with pytest.raises(ValueError):
        t_critical(0)


@pytest.mark.parametrize(
    ("values", "score"),
    [
        ([10] * 10, 100.0),
        ([0] * 10, -100.0),
        ([7, 8] * 5, 0.0),
        ([9, 9, 9, 9, 6, 6, 7, 8, 10, 0], 20.0),  # 5 promoters (50%) − 3 detractors (30%)
    ],
)
def test_recommend_score_edges(values: list[int], score: float) -> None:
    estimate = recommend_score(values)
    assert estimate is not None
    assert estimate.value == pytest.approx(score)
    assert -100 <= estimate.low <= estimate.value <= estimate.high <= 100


def test_share_at_or_above_the_burnout_cut() -> None:
    estimate = share_at_least([1, 2, 3, 4, 2, 2, 1, 5, 2, 2], 3)
    assert estimate is not None and estimate.value == pytest.approx(30.0)
    assert 0 <= estimate.low < 30 < estimate.high <= 100


def test_cbi_bands_are_conventions() -> None:
    assert [cbi_band(s) for s in (0, 49.9, 50, 74.9, 75, 89.9, 90, 100)] == [
        "low", "low", "moderate", "moderate", "high", "high", "very high", "very high",
    ]  # fmt: skip


def test_ewma_signals_a_sustained_rise_but_not_one_bad_week() -> None:
    steady = [50, 52, 48, 51, 49, 50, 53, 47]
    assert ewma_trend(steady, target=50, sigma=5).signal == "none"
    one_spike = [*steady, 70, 50, 49]
    assert ewma_trend(one_spike, target=50, sigma=5).in_words() == "no detectable change"
    creeping = [*steady, 56, 57, 58, 58, 59, 60]
    assert ewma_trend(creeping, target=50, sigma=5).signal == "up"
    assert ewma_trend([44, 43, 42, 42, 41, 40], target=50, sigma=5).signal == "down"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=60))
def test_every_interval_holds_its_mean_inside_the_scale(values: list[float]) -> None:
    estimate = mean_estimate(values)
    assert estimate is not None
    assert 0 <= estimate.low <= estimate.value + 1e-9 and estimate.value - 1e-9 <= estimate.high <= 100
