"""Rate limits: a token bucket per key (a device, an API key, a client address), in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    """Allows each key `rate` events per second on average, with bursts up to `burst`."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable, count: int = 1) -> float:
        """Takes `count` tokens; returns 0 when allowed, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= count:
                self._buckets[key] = (tokens - count, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (count - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drops the buckets that have refilled: they hold nothing a fresh bucket would not."""
        full = [k for k, (tokens, last) in self._buckets.items() if tokens + (now - last) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]

    def available(self, key: Hashable) -> float:
        """The tokens `key` holds now (the burst for a key never seen); takes nothing."""
        if self.rate <= 0:
            return float("inf")
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            return min(self.burst, tokens + (now - last) * self.rate)

    def spend(self, key: Hashable, count: float) -> None:
        """Takes `count` tokens whatever the bucket holds: it may go below zero, and then refills
        from there (a cost known only after the work was done)."""
        if self.rate <= 0 or count <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            self._buckets[key] = (tokens - count, now)
