"""The token bucket never lets a workspace send faster than its rate, whatever the timing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.rate_limit import PACE_MARGIN, TokenBucket, under_limit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=300, deadline=None)
@given(
    rate_per_minute=st.integers(min_value=1, max_value=6000),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.booleans(), st.integers(0, 3)),
        max_size=200,
    ),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate_per_minute: int, burst: int, steps: list) -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_minute, burst, monotonic=clock)
    taken = 0
    for advance, hit_429, takes in steps:
        clock.now += advance
        if hit_429:
            bucket.hold(1.0)
        for _ in range(takes):
            taken += bucket.try_take()
        assert taken <= burst + rate_per_minute / 60.0 * clock.now + 1e-9


@settings(max_examples=200, deadline=None)
@given(rate_per_minute=st.integers(1, 6000), burst=st.integers(1, 50), wait=st.floats(0, 30, allow_nan=False))
def test_nothing_is_sent_while_held_and_sending_resumes_after(rate_per_minute: int, burst: int, wait: float) -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_minute, burst, monotonic=clock)
    bucket.hold(wait)
    clock.now += wait * 0.999
    assert not bucket.try_take() or wait == 0
    clock.now = wait + bucket.wait_time() + 1e-6
    assert bucket.try_take()


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(min_value=2, max_value=100_000),
    burst=st.integers(min_value=1, max_value=50),
    window=st.sampled_from([1.0, 60.0]),  # Teams counts per second, Slack per minute
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=3, allow_nan=False), st.booleans(), st.integers(0, 20)),
        max_size=300,
    ),
)
def test_the_pace_under_a_limit_never_exceeds_it_in_any_window(
    limit: int, burst: int, window: float, steps: list
) -> None:
    """Whatever the timing of the attempts (and 429s holding the pace), what `under_limit` lets through
    (1) never exceeds `limit` in any window of `window` seconds, wherever that window starts, and (2) is
    accepted by the platform's own token bucket of the same limit and burst: the pace never draws a 429."""
    clock = Clock()
    pace = under_limit(limit, burst, window=window, monotonic=clock)
    platform = TokenBucket(limit * 60.0 / window, burst, monotonic=clock)
    sent: list[float] = []
    clock.now = 1000.0
    for advance, hit_429, takes in steps:
        clock.now += advance * 5 * window / limit  # up to 15 tokens' worth a step, up to 20 asked for: saturated
        if hit_429 and advance > 2.9:
            pace.hold(1.0)
        for _ in range(takes):
            if pace.try_take():
                assert platform.try_take(), "the platform's bucket would have refused this send"
                sent.append(clock.now)
    start = 0
    for end, at in enumerate(sent):
        while sent[start] <= at - window:
            start += 1
        assert end - start + 1 <= limit, f"{end - start + 1} sends within {window:g} s, limit {limit}"


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(min_value=50, max_value=100_000), burst=st.integers(min_value=1, max_value=50))
def test_the_pace_is_a_little_under_the_limit(limit: int, burst: int) -> None:
    # The cost of the margin: 2% of the rate for any real Slack limit (50 a minute and up, with its
    # saved-up tokens within a window's 2%), so a fan-out at the limit takes at most ~2% longer.
    pace = under_limit(limit, burst)
    # Both bounds allow a float's rounding: at limit=260, burst=26 the margin is exactly 5%, and
    # 260 * 0.95 / 60 * 60 comes back as 246.99999999999997.
    assert limit * 0.95 - 1e-9 <= pace.rate * 60 <= limit * (1 - PACE_MARGIN) + 1e-9
    assert 1 <= pace.burst <= max(1, burst // 2)
