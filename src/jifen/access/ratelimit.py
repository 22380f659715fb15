"""Rate limits per API key and per client.

A limit such as "1200/minute" (parsed by the `limits` library) is enforced as the
generic cell rate algorithm: each key keeps one number, the theoretical arrival time of
its next request; a request may come at most one period's worth of requests early. So
a key may spend its whole allowance at once, and then one request per period/amount.
A hit costs a dictionary lookup under a lock: no timer threads, no per-request lists.

Counters live in the process: with several workers each enforces the limit on its own
share of the traffic.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from limits import parse

from jifen.access.errors import RateLimited

# Keys remembered at most; past it, the keys whose allowance is whole again are dropped.
KEYS_MAX = 100_000


class RateLimiter:
    def __init__(self, limit: str, clock: Callable[[], float] = time.monotonic) -> None:
        """`limit` is e.g. "600/minute"; an empty string turns limiting off."""
        self._clock = clock
        self._interval = 0.0
        self._tolerance = 0.0
        if limit:
            item = parse(limit)
            period = float(item.get_expiry())
            self._interval = period / item.amount
            # One period's worth of requests may come at once.
            self._tolerance = period - self._interval
        self._arrivals: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one request for `key`, or refuse it with 429 and Retry-After."""
        if not self._interval:
            return
        now = self._clock()
        with self._lock:
            arrival = max(self._arrivals.get(key, now), now)
            if arrival - now > self._tolerance:
                wait = arrival - now - self._tolerance
                raise RateLimited(retry_after=max(1, math.ceil(wait)))
            if len(self._arrivals) >= KEYS_MAX:
                self._arrivals = {k: v for k, v in self._arrivals.items() if v > now}
            self._arrivals[key] = arrival + self._interval
