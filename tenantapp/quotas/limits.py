"""Per-tenant request limits held in this process: a token bucket for the rate, a count for
requests in flight. Both are keyed by tenant id and sized from the tenant's settings at each
request, so a limit changed by the operator applies at once.

Hand-written rather than pyrate-limiter's: its buckets have one fixed rate per limiter, and
here each tenant has its own rate that may change, and the refusal must say when to come back
(``Retry-After``), which a bucket's refill time gives directly.
"""

import math
import threading
import time


class TokenBuckets:
    """``rate`` requests a second on average, bursts of up to ``burst`` (``rate`` when 0)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, tenant_id: int, rate: float, burst: float) -> float:
        """0 when the request may go; else the seconds until it could."""
        capacity = max(burst, rate, 1.0)
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(tenant_id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens >= 1:
                self._buckets[tenant_id] = (tokens - 1, now)
                return 0.0
            self._buckets[tenant_id] = (tokens, now)
            return (1 - tokens) / rate


class InFlight:
    """How many requests of each tenant are being served now."""

    def __init__(self):
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def enter(self, tenant_id: int, limit: int) -> bool:
        with self._lock:
            count = self._counts.get(tenant_id, 0)
            if count >= limit:
                return False
            self._counts[tenant_id] = count + 1
            return True

    def leave(self, tenant_id: int) -> None:
        with self._lock:
            count = self._counts.get(tenant_id, 0) - 1
            if count > 0:
                self._counts[tenant_id] = count
            else:
                self._counts.pop(tenant_id, None)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
