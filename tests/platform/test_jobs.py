"""Background jobs: the transactional outbox, the in-process runner, the relay to arq and arq workers.

The arq tests use REDIS_URL when it is set, and otherwise a redis-server of their own. The worker subprocess
imports this module (see KillableWorkerSettings), which registers the test jobs below in it too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from imvo.platform import audit, jobs
from imvo.platform.db import write_txn
from imvo.platform.jobs import MAX_ATTEMPTS, JobContext, enqueue, job
from imvo.platform.settings import ROOT, Settings
from imvo.platform.tables import AuditEntry, OutboxJob

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
HAVE_REDIS_SERVER = Path(REDIS_SERVER).exists()
ENV_REDIS_URL = os.environ.get("REDIS_URL")


# ---- jobs the tests run ------------------------------------------------------------------------------------


@job("test.record_run")
async def record_run(ctx: JobContext, marker: str) -> None:
    """Leave a trace in the database: one audit entry per run, with the attempt number."""
    await audit.record("test.job_ran", subject=marker, details={"attempt": ctx.attempt})


@job("test.fail")
async def always_fail(ctx: JobContext, marker: str) -> None:
    await record_run(ctx, marker)
    raise ValueError("the remote service said no")


@job("test.block_on_first_attempt")
async def block_on_first_attempt(ctx: JobContext, marker: str) -> None:
    await record_run(ctx, marker)
    if ctx.attempt == 1:
        await asyncio.sleep(3600)  # until the test kills the worker


# The production worker with a short job timeout, so arq's in-progress mark of a killed worker expires (after
# timeout + 10 s) within the test. A dict, because arq reads only a settings class's own attributes.
KillableWorkerSettings = {**vars(jobs.WorkerSettings), "job_timeout": 5}


async def runs(marker: str) -> list[int]:
    """The attempt numbers of the runs of the test job with this marker, in order."""
    rows = (
        await AuditEntry.select(AuditEntry.details)
        .where((AuditEntry.action == "test.job_ran") & (AuditEntry.subject == marker))
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )
    return [row["details"]["attempt"] for row in rows]


async def outbox_row(job_id: int) -> OutboxJob:
    row = await OutboxJob.objects().where(OutboxJob.id == job_id).first()
    assert row is not None
    return row


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Wait until `check()` holds; fail after `within` seconds (a deadline for a hang, not a speed test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# ---- Redis servers -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisProcess:
    """A throw-away redis-server on a port of its own, keeping nothing on disk (like the one in compose)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.folder),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

        async def answers() -> bool:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        await eventually(answers, within=10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.process = None


needs_redis_server = pytest.mark.skipif(
    not HAVE_REDIS_SERVER, reason="the redis-server binary is not installed (apt-get install redis-server)"
)


@pytest.fixture(scope="module")
async def own_redis(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RedisProcess | None]:
    """Without REDIS_URL, a redis-server for this module's arq tests."""
    if ENV_REDIS_URL:
        yield None
        return
    if not HAVE_REDIS_SERVER:
        pytest.skip("no REDIS_URL and no redis-server binary")
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def redis_url(own_redis: RedisProcess | None) -> str:
    """A real Redis, empty: REDIS_URL's (the conftest empties it) or our own redis-server's."""
    if own_redis is None:
        assert ENV_REDIS_URL
        return ENV_REDIS_URL
    client = Redis.from_url(own_redis.url)
    await client.flushdb()  # outbox ids start again in every test; old arq job ids must not linger
    await client.aclose()
    return own_redis.url


# ---- the outbox --------------------------------------------------------------------------------------------


class Abandoned(Exception):
    pass


async def test_job_enqueued_in_a_transaction_that_rolls_back_never_runs(settings: Settings) -> None:
    with pytest.raises(Abandoned):
        async with write_txn():
            await enqueue("test.record_run", marker="rolled-back")
            raise Abandoned
    async with write_txn():
        await enqueue("test.record_run", marker="committed")

    await jobs.drain(settings)

    assert await runs("rolled-back") == []
    assert await runs("committed") == [1]
    assert await OutboxJob.count() == 1


async def test_enqueue_refuses_content_and_unknown_jobs() -> None:
    with pytest.raises(TypeError):
        await enqueue("test.record_run", marker={"statement": "what happened to me"})
    with pytest.raises(TypeError):
        await enqueue("test.record_run", marker="x" * 500)
    with pytest.raises(KeyError):
        await enqueue("no.such.job")
    assert await OutboxJob.count() == 0


async def test_in_process_runner_of_the_app_runs_jobs_without_redis(settings: Settings) -> None:
    from imvo.platform.app import create_app

    app = create_app(settings.with_(redis_url=None))
    async with app.lifespan():
        assert isinstance(app.state.jobs, jobs.OutboxRunner)
        async with write_txn():
            job_id = await enqueue("test.record_run", marker="in-process")

        async def done() -> bool:
            return (await outbox_row(job_id)).status == "done"

        await eventually(done)
    assert await runs("in-process") == [1]


async def test_failing_job_is_retried_with_growing_back_off_then_marked_failed(settings: Settings) -> None:
    local = settings.with_(redis_url=None)
    async with write_txn():
        job_id = await enqueue("test.fail", marker="flaky")
    moment = datetime.now(UTC)
    waits: list[timedelta] = []
    for failures in range(1, MAX_ATTEMPTS + 1):
        assert await jobs.run_pending(local, now=moment) == 1
        row = await outbox_row(job_id)
        assert row.attempts == failures
        assert row.last_error == "ValueError: the remote service said no"  # class and message, nothing more
        if failures == MAX_ATTEMPTS:
            break
        assert row.status == "pending"
        waits.append(row.run_after - moment)
        assert await jobs.run_pending(local, now=row.run_after - timedelta(seconds=1)) == 0  # not yet due
        moment = row.run_after

    assert waits == [timedelta(seconds=s) for s in (10, 20, 40, 80)]
    assert row.status == "failed"
    assert row.finished_at is not None
    assert await jobs.run_pending(local, now=moment + timedelta(days=1)) == 0
    assert await runs("flaky") == [1, 2, 3, 4, 5]


async def test_a_done_job_is_never_run_again(settings: Settings) -> None:
    local = settings.with_(redis_url=None)
    async with write_txn():
        job_id = await enqueue("test.record_run", marker="once")
    assert await jobs.run_pending(local) == 1
    assert (await outbox_row(job_id)).status == "done"

    assert await jobs.run_pending(local, now=datetime.now(UTC) + timedelta(days=1)) == 0
    # arq handing the same job over again (a duplicate delivery) finds it done.
    await jobs.run_outbox_job({"settings": local, "job_try": 2}, job_id, 1)

    assert await runs("once") == [1]
    assert (await outbox_row(job_id)).status == "done"


async def test_a_job_whose_runner_died_runs_again_after_its_lease(settings: Settings) -> None:
    local = settings.with_(redis_url=None)
    async with write_txn():
        job_id = await enqueue("test.record_run", marker="orphan")
    # What a web process killed mid-job leaves behind.
    started = datetime.now(UTC) - jobs.RUNNING_LEASE - timedelta(seconds=1)
    await OutboxJob.update({OutboxJob.status: "running", OutboxJob.updated_at: started}).where(
        OutboxJob.id == job_id
    )
    assert await jobs.run_pending(local) == 0  # counted as a failed attempt: back-off first

    row = await outbox_row(job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("JobInterrupted")
    assert await jobs.run_pending(local, now=row.run_after) == 1
    assert await runs("orphan") == [2]
    assert (await outbox_row(job_id)).status == "done"


# ---- arq ---------------------------------------------------------------------------------------------------


@needs_redis_server
async def test_job_enqueued_while_redis_is_down_runs_after_redis_returns(
    settings: Settings, tmp_path: Path
) -> None:
    server = RedisProcess(tmp_path)
    await server.start()
    try:
        with_redis = settings.with_(redis_url=server.url)
        await server.stop()
        async with write_txn():  # the change and its job commit although Redis is down
            job_id = await enqueue("test.record_run", marker="outage")

        assert await jobs.relay(with_redis) == 0
        assert (await outbox_row(job_id)).status == "pending"

        await server.start()  # same port, empty: this Redis keeps nothing on disk
        assert await jobs.relay(with_redis) == 1
        assert (await outbox_row(job_id)).status == "queued"
        await jobs.run_arq_burst(with_redis)
    finally:
        await server.stop()

    assert await runs("outage") == [1]
    assert (await outbox_row(job_id)).status == "done"


async def test_arq_worker_records_a_failure_and_retries_through_the_outbox(
    settings: Settings, redis_url: str
) -> None:
    with_redis = settings.with_(redis_url=redis_url)
    async with write_txn():
        job_id = await enqueue("test.fail", marker="arq-flaky")
    assert await jobs.relay(with_redis) == 1
    before = datetime.now(UTC)
    await jobs.run_arq_burst(with_redis)

    row = await outbox_row(job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "ValueError: the remote service said no"
    assert before + timedelta(seconds=10) <= row.run_after <= datetime.now(UTC) + timedelta(seconds=10)
    assert await jobs.relay(with_redis) == 0  # not before its back-off

    assert await jobs.relay(with_redis, now=row.run_after) == 1  # as `outbox:<id>:2`
    await jobs.run_arq_burst(with_redis)
    assert await runs("arq-flaky") == [1, 2]
    assert (await outbox_row(job_id)).attempts == 2


async def start_worker(redis_url: str, log: Path, *args: str) -> asyncio.subprocess.Process:
    """`arq` as a separate process, on the same database (DATABASE_URL and DATA_DIR are in the env)."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arq",
            f"{__name__}.KillableWorkerSettings",
            *args,
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=out,
        )


@pytest.mark.slow
async def test_worker_killed_mid_job_runs_it_again_exactly_once(redis_url: str, tmp_path: Path) -> None:
    async with write_txn():
        job_id = await enqueue("test.block_on_first_attempt", marker="killed")
    log = tmp_path / "workers.log"

    first = await start_worker(redis_url, log)  # its start-up relay queues the job
    try:

        async def started() -> bool:
            return await runs("killed") == [1]

        await eventually(started)
    finally:
        first.kill()
        await first.wait()
    assert (await outbox_row(job_id)).status == "running"

    second = await start_worker(redis_url, log, "--burst")
    try:
        await asyncio.wait_for(second.wait(), 45)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, log.read_text()

    assert await runs("killed") == [1, 2]
    row = await outbox_row(job_id)
    assert row.status == "done"
    assert row.finished_at is not None
