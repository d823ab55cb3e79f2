"""Fixed-window rate limits, in Redis when it is configured so that every web process counts together."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        """Count one attempt; False when `limit` attempts were already made in this window."""


class MemoryRateLimiter:
    """For a single process (the embedded default)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, int]] = {}  # window key -> (window end, attempts)
        self._prune_at = 10_000

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        now = time.time()
        window = int(now // window_seconds)
        window_key = f"{key}:{window}"
        if len(self._counts) > self._prune_at:  # forget finished windows only: flooding cannot reset a limit
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            self._prune_at = max(10_000, 2 * len(self._counts))
        _, count = self._counts.get(window_key, (0.0, 0))
        self._counts[window_key] = ((window + 1) * window_seconds, count + 1)
        return count + 1 <= limit


class RedisRateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        window_key = f"imvo:rate:{key}:{int(time.time() // window_seconds)}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(window_key)
            pipe.expire(window_key, window_seconds + 1)
            count, _ = await pipe.execute()
        return int(count) <= limit
