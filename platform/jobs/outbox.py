"""The outbox: the job registry, `enqueue`, and running one claimed job with retries and back-off."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

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
BATCH = 100
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


_RUNNERS: set[Any] = set()  # the OutboxRunners of this process (imvo.platform.jobs.runner)


def _nudge_runners() -> None:
    for runner in list(_RUNNERS):
        runner.wake()


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


def now_utc() -> datetime:
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


def claimed_from(row: dict[str, Any], attempt: int) -> _Claimed:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    return _Claimed(row["id"], row["name"], payload or {}, row["attempts"], attempt)


RETURNED = (OutboxJob.id, OutboxJob.name, OutboxJob.payload, OutboxJob.attempts)


async def execute(settings: Settings, claimed: _Claimed, now: datetime | None) -> bool:
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
        await _record_failure(claimed.id, claimed.name, claimed.attempts, error, now or now_utc())
        return False
    finished = now_utc()
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


async def recover_interrupted(now: datetime) -> None:
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
        moment = now or now_utc()
        await recover_interrupted(moment)
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
                await OutboxJob.update({OutboxJob.status: RUNNING, OutboxJob.updated_at: now_utc()})
                .where(
                    (OutboxJob.id == row_id) & (OutboxJob.status == PENDING) & (OutboxJob.run_after <= moment)
                )
                .returning(*RETURNED)
            )
            if claimed:  # another runner may have taken it between the select and the claim
                row = claimed[0]
                await execute(settings, claimed_from(row, row["attempts"] + 1), now)
                ran += 1
