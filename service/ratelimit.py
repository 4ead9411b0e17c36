"""Per-key request rate limiting (token bucket), off unless configured.

``TAILOR_RATE_LIMIT`` requests per second per API key, with bursts up to
``TAILOR_RATE_BURST``; beyond that a request gets 429 ``rate_limited`` with a
``Retry-After`` header. In memory, per process: one server process serves a
data directory.
"""

from __future__ import annotations

import math
import threading
import time

from service.errors import RateLimitedError


class RateLimiter:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket or raise ``RateLimitedError``."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise RateLimitedError(
                    f"more than {self.rate:g} requests per second for this key; retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[key] = (tokens - 1.0, now)
