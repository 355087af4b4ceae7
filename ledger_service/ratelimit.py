"""Per-device rate limits: a token bucket for each device, in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class DeviceRateLimiter:
    """Allows each device `rate` readings per second on average, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, device_id: bytes, count: int = 1) -> float:
        """Takes `count` tokens; returns 0 when allowed, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(device_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= count:
                self._buckets[device_id] = (tokens - count, now)
                return 0.0
            self._buckets[device_id] = (tokens, now)
            return (count - tokens) / self.rate
