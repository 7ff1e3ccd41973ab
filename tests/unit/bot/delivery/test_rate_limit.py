"""The token bucket never lets a workspace send faster than its rate, whatever the timing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.delivery.rate_limit import TokenBucket


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
