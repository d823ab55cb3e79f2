"""Jobs on Redis: the relay from the outbox to arq, the arq function, and the worker."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, create_worker, func
from redis.exceptions import RedisError

from imvo.platform.db import database_lifespan
from imvo.platform.jobs.outbox import (
    BATCH,
    JOB_TIMEOUT_SECONDS,
    PENDING,
    QUEUED,
    RETURNED,
    RUNNING,
    claimed_from,
    execute,
    load_job_modules,
    log,
    now_utc,
    recover_interrupted,
)
from imvo.platform.settings import Settings
from imvo.platform.tables import OutboxJob

ARQ_FUNCTION = "outbox"
# A queued row older than this is relayed again: Redis keeps nothing on disk and may have lost it.
REQUEUE_AFTER = timedelta(minutes=2)


def arq_redis(redis_url: str) -> ArqRedis:
    """A client for arq's queue that connects when first used, so a Redis outage at start-up is no error."""
    return ArqRedis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)


def arq_job_id(outbox_id: int, attempt: int) -> str:
    return f"outbox:{outbox_id}:{attempt}"


async def relay(
    settings: Settings,
    redis: ArqRedis | None = None,
    *,
    now: datetime | None = None,
    requeue_after: timedelta = REQUEUE_AFTER,
) -> int:
    """Hand due pending rows (and rows queued longer than `requeue_after`) to arq; returns how many moved.

    Each row goes in as `outbox:<id>:<attempt>`, so handing it over twice enqueues it once. When Redis is
    unreachable this logs and leaves the rows pending for the next pass; it never raises for that.
    """
    if settings.redis_url is None:
        raise RuntimeError("relay needs REDIS_URL")
    moment = now or now_utc()
    await recover_interrupted(moment)
    own_client = redis is None
    client = redis or arq_redis(settings.redis_url)
    moved = 0
    try:
        while True:
            rows = await (
                OutboxJob.select(OutboxJob.id, OutboxJob.attempts)
                .where(
                    ((OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment))
                    | ((OutboxJob.status == QUEUED) & (OutboxJob.updated_at <= moment - requeue_after))
                )
                .order_by(OutboxJob.id)
                .limit(BATCH)
            )
            for row in rows:
                attempt = row["attempts"] + 1
                await client.enqueue_job(
                    ARQ_FUNCTION, row["id"], attempt, _job_id=arq_job_id(row["id"], attempt)
                )
                # Only if nothing moved on meanwhile: a worker may already be running it.
                await OutboxJob.update({OutboxJob.status: QUEUED, OutboxJob.updated_at: now_utc()}).where(
                    (OutboxJob.id == row["id"])
                    & OutboxJob.status.is_in([PENDING, QUEUED])
                    & (OutboxJob.attempts == row["attempts"])
                )
                moved += 1
            # A requeue with a zero wait selects the rows it just queued again: one round is enough then.
            if len(rows) < BATCH or requeue_after <= timedelta(0):
                return moved
    except (RedisError, OSError) as error:
        log.warning("redis unreachable: outbox jobs stay pending", error=type(error).__name__, moved=moved)
        return moved
    finally:
        if own_client:
            await client.aclose()


async def run_outbox_job(ctx: dict[str, Any], outbox_id: int, attempt: int) -> None:
    """The arq function: run the outbox row `outbox_id` for its attempt `attempt`, unless it moved on.

    A row that is done or failed, or whose attempt is past this one, is skipped. A row still "running" is
    run again: arq hands a job over again only when the worker running it died.
    """
    settings: Settings = ctx["settings"]
    rows = (
        await OutboxJob.update({OutboxJob.status: RUNNING, OutboxJob.updated_at: now_utc()})
        .where(
            (OutboxJob.id == outbox_id)
            & (OutboxJob.attempts == attempt - 1)
            & OutboxJob.status.is_in([PENDING, QUEUED, RUNNING])
        )
        .returning(*RETURNED)
    )
    if not rows:
        log.info("outbox job skipped", outbox_id=outbox_id, attempt=attempt)
        return
    row = rows[0]
    # arq counts its own tries of this attempt: a rerun after a killed worker is the next attempt.
    await execute(settings, claimed_from(row, row["attempts"] + ctx.get("job_try", 1)), None)


async def relay_cron(ctx: dict[str, Any]) -> None:
    """The worker's periodic relay: catches rows whose web process could not reach Redis, and retries."""
    await relay(ctx["settings"], ctx["redis"])


async def _worker_startup(ctx: dict[str, Any]) -> None:
    ctx.setdefault("settings", Settings.from_env())
    load_job_modules()
    stack = AsyncExitStack()
    await stack.enter_async_context(database_lifespan())
    ctx["exit_stack"] = stack


async def _worker_shutdown(ctx: dict[str, Any]) -> None:
    if stack := ctx.pop("exit_stack", None):
        await stack.aclose()


class WorkerSettings:
    """arq settings: `arq imvo.platform.jobs.WorkerSettings` (or `imvo worker`) runs a worker.

    Reads REDIS_URL and the other settings from the environment when the worker starts.
    """

    functions = [func(run_outbox_job, name=ARQ_FUNCTION)]
    cron_jobs = [cron(relay_cron, second={0, 15, 30, 45}, run_at_startup=True)]
    redis_settings = RedisSettings.from_dsn(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    on_startup = _worker_startup
    on_shutdown = _worker_shutdown
    job_timeout = JOB_TIMEOUT_SECONDS
    keep_result = 3600  # the result (None) marks the job id as used, so a late relay of it is ignored
    health_check_interval = 10
    max_tries = 5  # arq's own reruns of one attempt, after a worker died mid-job


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run an arq worker in this process; blocks until SIGINT or SIGTERM (or, with `burst`, an empty queue).

    Contract for the `imvo worker` command: call it from synchronous code with no event loop running, with
    `settings.redis_url` set (it raises RuntimeError otherwise). It opens and closes the database pool
    itself, imports every job module (`load_job_modules`), relays the outbox at start-up and every 15 s, and
    writes arq's health-check key every 10 s (`arq --check imvo.platform.jobs.WorkerSettings` reads it). On a
    signal, jobs in progress are cancelled; arq and the outbox run them again, so stopping is always safe.
    """
    if settings.redis_url is None:
        raise RuntimeError("the worker needs REDIS_URL; without it jobs run in the web process")
    worker = create_worker(
        WorkerSettings,  # type: ignore[arg-type]
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        ctx={"settings": settings},
        burst=burst,
    )
    worker.run()


async def run_arq_burst(settings: Settings) -> int:
    """Run an arq worker in this process and event loop until the queue is empty; returns jobs completed.

    For tests and `drain`: it uses the database set-up of the process it runs in, and no cron.
    """
    assert settings.redis_url is not None
    redis = arq_redis(settings.redis_url)
    try:
        worker = Worker(
            functions=[func(run_outbox_job, name=ARQ_FUNCTION)],
            redis_pool=redis,
            ctx={"settings": settings},
            burst=True,
            handle_signals=False,
            poll_delay=0.05,
            job_timeout=JOB_TIMEOUT_SECONDS,
            keep_result=WorkerSettings.keep_result,
        )
        await worker.async_run()
        return worker.jobs_complete
    finally:
        # Not worker.close(): it calls redis' deprecated close(); this client is ours to close.
        await redis.aclose()
