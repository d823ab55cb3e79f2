"""Background jobs through a transactional outbox.

`enqueue` writes an OutboxJob row inside the caller's transaction, so a job exists exactly when the change
that caused it was committed. A runner then takes pending rows: with REDIS_URL they are relayed to arq (job id
`outbox:<id>:<attempt>`) and run by `imvo worker`; without it they run in the web process. Either way the same
registered function runs, and a row that is done is never run again.

A row moves pending → (queued →) running → done. A failure puts it back to pending with a back-off, and after
MAX_ATTEMPTS it is failed. A run that never finishes (a killed process) leaves it running; after
RUNNING_LEASE that counts as a failed attempt and the job is retried. Jobs therefore run at least once, and
must be safe to run again after a crash (mail builders check whether the mail is still wanted).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, create_worker, func
from redis.exceptions import RedisError

from imvo.platform.db import database_lifespan
from imvo.platform.settings import Settings
from imvo.platform.tables import OutboxJob

log = structlog.get_logger("imvo.jobs")

PENDING, QUEUED, RUNNING, DONE, FAILED = "pending", "queued", "running", "done", "failed"
MAX_ATTEMPTS = 5
BACKOFF_FIRST = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)
JOB_TIMEOUT_SECONDS = 300
# Longer than arq's own rerun of an interrupted job (timeout + 10 s), so the relay only steps in when the
# queue itself was lost.
RUNNING_LEASE = timedelta(seconds=2 * JOB_TIMEOUT_SECONDS + 60)
# A queued row older than this is relayed again: Redis keeps nothing on disk and may have lost it.
REQUEUE_AFTER = timedelta(minutes=2)
BATCH = 100
ARQ_FUNCTION = "outbox"
# After a nudge from `enqueue` the runner looks again soon: the enqueuing transaction may not have committed
# when the nudge arrives, and there is no commit hook to wait for.
NUDGE_POLL_SECONDS = 0.1
NUDGE_WINDOW_SECONDS = 2.0
# Modules whose import registers jobs (DESIGN §2: every package has a jobs.py); IMVO_JOB_MODULES adds more.
JOB_MODULES = ("imvo.platform.mail", "imvo.covenants.jobs", "imvo.grievances.jobs")


@dataclass(frozen=True)
class JobContext:
    """What a job function gets besides its payload: the settings, its outbox id and its attempt (from 1)."""

    settings: Settings
    job_id: int
    attempt: int


JobFunction = Callable[..., Awaitable[None]]
JOBS: dict[str, JobFunction] = {}


class JobInterrupted(Exception):
    """A run that never reported back: its process was killed or lost its queue."""


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register a job function `async def f(ctx: JobContext, **payload)`; payloads carry ids only."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = function
        return function

    return register


def load_job_modules() -> None:
    """Import every module that registers jobs, so a worker or runner knows them all.

    Those are JOB_MODULES (a package without a jobs.py is skipped) and the comma-separated module names in
    the IMVO_JOB_MODULES environment variable.
    """
    extra = [name.strip() for name in os.environ.get("IMVO_JOB_MODULES", "").split(",") if name.strip()]
    for name in (*JOB_MODULES, *extra):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # the module exists but imports something missing: that is a real error
                raise


def _check_payload(payload: dict[str, Any]) -> None:
    # Payloads end up in the database and their ids in Redis: ids and short names only, never content.
    for key, value in payload.items():
        if not (
            value is None or isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 100)
        ):
            raise TypeError(f"job payload {key!r} must be an id or a short name, not {type(value).__name__}")


async def enqueue(name: str, **payload: Any) -> int:
    """Write a job to the outbox, in the transaction that is open (if any). Returns the outbox id."""
    if name not in JOBS:
        load_job_modules()
    if name not in JOBS:
        raise KeyError(f"no job named {name!r}")
    _check_payload(payload)
    rows = await OutboxJob.insert(OutboxJob(name=name, payload=payload)).returning(OutboxJob.id)
    _nudge_runners()
    return rows[0]["id"]


# ---- running one job ---------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def backoff(failures: int) -> timedelta:
    """How long to wait before the next attempt after `failures` failed ones: 10 s, 20 s, 40 s, … up to 1 h."""
    return min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_CAP)


@dataclass(frozen=True)
class _Claimed:
    id: int
    name: str
    payload: dict[str, Any]
    attempts: int  # failed attempts before this run
    attempt: int  # the number of this run, from 1


def _claimed(row: dict[str, Any], attempt: int) -> _Claimed:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    return _Claimed(row["id"], row["name"], payload or {}, row["attempts"], attempt)


_RETURNED = (OutboxJob.id, OutboxJob.name, OutboxJob.payload, OutboxJob.attempts)


async def _execute(settings: Settings, claimed: _Claimed, now: datetime | None) -> bool:
    """Run a claimed job and record the outcome; True when it succeeded."""
    function = JOBS.get(claimed.name)
    if function is None:
        load_job_modules()
        function = JOBS.get(claimed.name)
    try:
        if function is None:
            raise LookupError(f"no job named {claimed.name!r}")
        async with asyncio.timeout(JOB_TIMEOUT_SECONDS):
            await function(JobContext(settings, claimed.id, claimed.attempt), **claimed.payload)
    except Exception as error:
        await _record_failure(claimed.id, claimed.name, claimed.attempts, error, now or _now())
        return False
    finished = _now()
    await OutboxJob.update(
        {OutboxJob.status: DONE, OutboxJob.finished_at: finished, OutboxJob.updated_at: finished}
    ).where((OutboxJob.id == claimed.id) & (OutboxJob.status == RUNNING))
    return True


async def _record_failure(row_id: int, name: str, attempts: int, error: Exception, now: datetime) -> None:
    failures = attempts + 1
    # The class and message only: a traceback or the payload could carry what must stay out of the database.
    message = f"{type(error).__name__}: {error}"[:1000]
    changes: dict[Any, Any] = {
        OutboxJob.attempts: failures,
        OutboxJob.last_error: message,
        OutboxJob.updated_at: now,
    }
    if failures >= MAX_ATTEMPTS:
        changes |= {OutboxJob.status: FAILED, OutboxJob.finished_at: now}
    else:
        changes |= {OutboxJob.status: PENDING, OutboxJob.run_after: now + backoff(failures)}
    await OutboxJob.update(changes).where(
        (OutboxJob.id == row_id) & (OutboxJob.status == RUNNING) & (OutboxJob.attempts == attempts)
    )
    log.warning(
        "job failed",
        job=name,
        outbox_id=row_id,
        failures=failures,
        error=type(error).__name__,
        gives_up=failures >= MAX_ATTEMPTS,
    )


async def _recover_interrupted(now: datetime) -> None:
    """Runs that outlived their lease died with their process: count them as failed attempts."""
    stale = await OutboxJob.select(OutboxJob.id, OutboxJob.name, OutboxJob.attempts).where(
        (OutboxJob.status == RUNNING) & (OutboxJob.updated_at <= now - RUNNING_LEASE)
    )
    for row in stale:
        error = JobInterrupted("the run did not finish; its process stopped")
        await _record_failure(row["id"], row["name"], row["attempts"], error, now)


# ---- in-process runner (no Redis) --------------------------------------------------------------------------


async def run_pending(settings: Settings, *, now: datetime | None = None) -> int:
    """Run, in this process, every pending job that is due, each at most once; returns how many ran.

    `now` pretends it is that moment (tests use it to step over a retry's back-off). Jobs that the run
    enqueues are taken too when they are due. Rows another runner is running are left to it.
    """
    seen: set[int] = set()
    ran = 0
    while True:
        moment = now or _now()
        await _recover_interrupted(moment)
        due = await (
            OutboxJob.select(OutboxJob.id)
            .where((OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment))
            .order_by(OutboxJob.run_after)
            .order_by(OutboxJob.id)
            .limit(BATCH)
        )
        ids = [row["id"] for row in due if row["id"] not in seen]
        if not ids:
            return ran
        for row_id in ids:
            seen.add(row_id)
            claimed = (
                await OutboxJob.update({OutboxJob.status: RUNNING, OutboxJob.updated_at: _now()})
                .where(
                    (OutboxJob.id == row_id) & (OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment)
                )
                .returning(*_RETURNED)
            )
            if claimed:  # another runner may have taken it between the select and the claim
                row = claimed[0]
                await _execute(settings, _claimed(row, row["attempts"] + 1), now)
                ran += 1


# ---- relay to arq (Redis) ----------------------------------------------------------------------------------


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
    moment = now or _now()
    await _recover_interrupted(moment)
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
                await OutboxJob.update({OutboxJob.status: QUEUED, OutboxJob.updated_at: _now()}).where(
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
        await OutboxJob.update({OutboxJob.status: RUNNING, OutboxJob.updated_at: _now()})
        .where(
            (OutboxJob.id == outbox_id)
            & (OutboxJob.attempts == attempt - 1)
            & OutboxJob.status.is_in([PENDING, QUEUED, RUNNING])
        )
        .returning(*_RETURNED)
    )
    if not rows:
        log.info("outbox job skipped", outbox_id=outbox_id, attempt=attempt)
        return
    row = rows[0]
    # arq counts its own tries of this attempt: a rerun after a killed worker is the next attempt.
    await _execute(settings, _claimed(row, row["attempts"] + ctx.get("job_try", 1)), None)


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
        moment = now or _now()
        unfinished = await OutboxJob.exists().where(
            ((OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment))
            | OutboxJob.status.is_in([QUEUED, RUNNING])
        )
        if not unfinished:
            return
        if loop.time() > deadline:
            raise TimeoutError("outbox jobs are still unfinished")
        await asyncio.sleep(settings.job_poll_seconds)  # another runner is busy with them


# ---- the web process ---------------------------------------------------------------------------------------

_RUNNERS: set[OutboxRunner] = set()


def _nudge_runners() -> None:
    for runner in list(_RUNNERS):
        runner.wake()


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
