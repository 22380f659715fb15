"""Rate limits per API key and per client (the `limits` library, moving window).

Counters live in the process: with several workers each enforces the limit on its own
share of the traffic.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from jifen.access.errors import RateLimited


class RateLimiter:
    def __init__(self, limit: str) -> None:
        """`limit` is e.g. "600/minute"; an empty string turns limiting off."""
        self._item: RateLimitItem | None = parse(limit) if limit else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str, item: RateLimitItem | None = None) -> None:
        """Count one request for `key`, or refuse it with 429 and Retry-After."""
        item = item or self._item
        if item is None:
            return
        if self._limiter.hit(item, key):
            return
        reset = self._limiter.get_window_stats(item, key).reset_time
        raise RateLimited(retry_after=max(1, math.ceil(reset - time.time())))
