"""A token bucket, so a large fan-out is spread out instead of flooding Slack."""

from __future__ import annotations

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
