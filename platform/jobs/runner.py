"""Jobs from the web process: the OutboxRunner of the app's lifespan, and `drain` for tests and commands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from imvo.platform.jobs.outbox import (
    _RUNNERS,
    PENDING,
    QUEUED,
    RUNNING,
    load_job_modules,
    log,
    now_utc,
    run_pending,
)
from imvo.platform.jobs.relay import arq_redis, relay, run_arq_burst
from imvo.platform.settings import Settings
from imvo.platform.tables import OutboxJob

# After a nudge from `enqueue` the runner looks again soon: the enqueuing transaction may not have committed
# when the nudge arrives, and there is no commit hook to wait for.
NUDGE_POLL_SECONDS = 0.1
NUDGE_WINDOW_SECONDS = 2.0


async def drain(settings: Settings, *, now: datetime | None = None, max_wait: float = 30.0) -> None:
    """Run every due job to its end the way this configuration does (arq with Redis, in-process without).

    Also waits for jobs another runner in this process has claimed. Jobs that fail stay pending for their
    back-off and are not waited for. Raises TimeoutError if jobs are still running after `max_wait` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    while True:
        if settings.redis_url is None:
            await run_pending(settings, now=now)
        else:
            await relay(settings, now=now, requeue_after=timedelta(0))
            await run_arq_burst(settings)
        moment = now or now_utc()
        unfinished = await OutboxJob.exists().where(
            ((OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment))
            | OutboxJob.status.is_in([QUEUED, RUNNING])
        )
        if not unfinished:
            return
        if loop.time() > deadline:
            raise TimeoutError("outbox jobs are still unfinished")
        await asyncio.sleep(settings.job_poll_seconds)  # another runner is busy with them


class OutboxRunner:
    """The web process's share of the jobs: it runs them in-process without Redis, or relays them to arq.

    It looks every `settings.job_poll_seconds`, and sooner after `enqueue` in this process.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = arq_redis(settings.redis_url) if settings.redis_url else None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_once(self) -> None:
        if self.settings.redis_url is None:
            await run_pending(self.settings)
        else:
            await relay(self.settings, self.redis)

    def wake(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._serve(), name="imvo-outbox-runner")
        _RUNNERS.add(self)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let the job in hand finish (up to `grace_seconds`), then stop."""
        _RUNNERS.discard(self)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # On time-out wait_for cancels the task; the interrupted job is retried after its lease.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, grace_seconds)
        if self.redis is not None:
            await self.redis.aclose()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        hurry_until = 0.0
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:  # a database hiccup must not end the runner
                log.exception("outbox pass failed")
            if self._stopping:
                return
            delay = NUDGE_POLL_SECONDS if loop.time() < hurry_until else self.settings.job_poll_seconds
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                continue
            self._wake.clear()
            hurry_until = loop.time() + NUDGE_WINDOW_SECONDS


def jobs_lifespan(settings: Settings) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan part for jobs: an OutboxRunner as `app.state.jobs` for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        load_job_modules()
        runner = OutboxRunner(settings)
        app.state.jobs = runner
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()

    return lifespan
