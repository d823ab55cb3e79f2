"""The in-process rate limiter (the Redis one is exercised by the suite run with REDIS_URL)."""

from imvo.platform.ratelimit import MemoryRateLimiter


async def test_attempts_beyond_the_limit_are_refused_per_key():
    limiter = MemoryRateLimiter()
    assert [await limiter.hit("a", 3, 900) for _ in range(4)] == [True, True, True, False]
    assert await limiter.hit("b", 3, 900)


async def test_flooding_with_other_keys_does_not_reset_a_limit():
    limiter = MemoryRateLimiter()
    for _ in range(3):
        await limiter.hit("victim", 3, 900)
    for n in range(20_000):
        await limiter.hit(f"noise-{n}", 3, 900)
    assert not await limiter.hit("victim", 3, 900)
