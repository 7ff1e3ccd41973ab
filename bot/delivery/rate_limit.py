"""A token bucket, so a large fan-out is spread out instead of flooding Slack."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_minute` tokens a minute, up to `burst` saved up.

    `hold(seconds)` empties the bucket until then: after a 429 the whole workspace waits out
    Retry-After, not just the one message that hit it.
    """

    def __init__(
        self, rate_per_minute: float, burst: int = 10, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._tokens = float(self.burst)
        self._updated = monotonic()
        self._held_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        start = max(self._updated, self._held_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
        self._updated = max(now, self._updated)

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is there now)."""
        with self._lock:
            now = self._monotonic()
            self._refill(now)
            if now < self._held_until:
                return self._held_until - now + (0.0 if self._tokens >= 1 else 1 / self.rate)
            return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def try_take(self) -> bool:
        with self._lock:
            now = self._monotonic()
            self._refill(now)
            if now < self._held_until or self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def hold(self, seconds: float) -> None:
        with self._lock:
            now = self._monotonic()
            self._refill(now)
            self._held_until = max(self._held_until, now + seconds)
            self._tokens = 0.0


# How far under a platform's limit the outbox paces. Our bucket and the platform's refill at the same
# rate, so paced at exactly the limit the platform's bucket sits empty and any request that reaches it a
# little early (thread scheduling, a slower answer before a faster one) is refused: 2-6 self-inflicted
# 429s in 4 of 6 runs of benchmarks/pulse_fanout.py at matched rates, each holding the workspace for a
# second. Two percent under gives the platform's bucket back a token every 50 sends; it costs 2% of the
# rate, which is inside issue #18's 1.05x target.
PACE_MARGIN = 0.02
# What the pace leaves of the platform's bucket, in time, when it can: calls reach the platform later than they
# were sent by however long a process waits to be scheduled, and a late call arrives with the ones sent after
# it. At 100 calls a second with Slack's-size bucket of 5, saving 2 left the platform 30 ms; saving 1 leaves
# 40 ms: in alternated runs of benchmarks/fanout_latency.py --saved half,code (6,000/min, load 18-24) fewer
# instants of 429s in 4 pairs of 5 (30 s runs: 8 against 24 at 50 ms, 3 against 25 at 150 ms, 10 and 10 at
# 300 ms, where the second run's fake was stalled twice as long).
PLATFORM_HEADROOM = 0.1


def under_limit(
    limit: float, burst: int, *, window: float = 60.0, monotonic: Callable[[], float] = time.monotonic
) -> TokenBucket:
    """A pace that keeps inside a platform limit of `limit` calls per `window` seconds whose own bucket
    holds `burst`.

    - It saves up only half of `burst` (at least 1), so the platform's bucket keeps the rest as headroom
      for requests that arrive closer together than they were sent (with many in flight, a thread that
      took its turn can reach the platform after one that took a later turn). Not less than half where
      the other half is `PLATFORM_HEADROOM` of the rate or more: a waiter that wakes late on a busy
      machine catches up with the token it saved, and with a bucket of one that lateness was lost for
      good (1.13x the ideal at 600/min, load 13, with a bucket of 1). Where even the whole bucket is
      shorter than that (Slack's burst of 5 at 100 calls a second is 50 ms), it saves what leaves the
      platform `PLATFORM_HEADROOM`, at least 1: there the 429s a late arrival draws cost more than the
      catching up.
    - It refills `PACE_MARGIN` under the limit, or further when that is needed for its saved-up tokens
      plus a window's refill to stay within one window's limit (`burst/2 + rate * window <= limit *
      window`): whatever sliding window the platform counts in, the pace never exceeds the limit.
      The margin is capped at a half, for limits of a few calls a window.
    """
    keep = math.ceil(limit / window * PLATFORM_HEADROOM)  # the platform's tokens in PLATFORM_HEADROOM
    capacity = max(1, min(burst // 2, int(limit * 0.05), burst - keep))
    margin = min(0.5, max(PACE_MARGIN, capacity / limit))
    return TokenBucket(limit * (1 - margin) * 60.0 / window, capacity, monotonic=monotonic)
