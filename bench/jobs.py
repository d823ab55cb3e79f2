"""Outbox jobs in-process: enqueue latency (one write transaction per job, as a request makes it) and the
throughput of the in-process runner, alone and together with enqueueing.

Run: .venv/bin/python bench/jobs.py [--jobs 1000]
It works in a new SQLite database in a temporary folder unless DATABASE_URL is set (it then adds rows to that
database: point it at a scratch one). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="imvo-bench-"))

from imvo.platform import jobs
from imvo.platform.db import database_lifespan, migrate, write_txn
from imvo.platform.jobs import JobContext, enqueue, job
from imvo.platform.settings import Settings
from imvo.platform.tables import OutboxJob

ran = 0


@job("bench.noop")
async def noop(ctx: JobContext, item_id: int) -> None:
    del ctx, item_id
    global ran
    ran += 1


async def enqueue_each(n: int, offset: int = 0) -> list[float]:
    """Enqueue n jobs, each in its own write transaction; the duration of each transaction in seconds."""
    durations = []
    for i in range(n):
        start = time.perf_counter()
        async with write_txn():
            await enqueue("bench.noop", item_id=offset + i)
        durations.append(time.perf_counter() - start)
    return durations


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(int(len(values) * share), len(values) - 1)]


async def main(n: int) -> None:
    await migrate()
    async with database_lifespan():  # PostgreSQL's pool, as the web process has it
        await measure(n)


async def measure(n: int) -> None:
    settings = Settings.from_env().with_(redis_url=None)
    engine = "PostgreSQL" if settings.is_postgres else "SQLite"
    print(f"{n} jobs, {engine}, in-process runner")

    latencies = await enqueue_each(n)
    print(
        f"enqueue (own transaction)    median {statistics.median(latencies) * 1000:6.2f} ms"
        f"   p95 {percentile(latencies, 0.95) * 1000:6.2f} ms   p99 {percentile(latencies, 0.99) * 1000:6.2f} ms"
    )

    start = time.perf_counter()
    done = await jobs.run_pending(settings)
    elapsed = time.perf_counter() - start
    print(f"run pending jobs             {done / elapsed:8.0f} jobs/s   ({done} in {elapsed:.2f} s)")

    start = time.perf_counter()
    await enqueue_each(n, offset=n)
    done = await jobs.run_pending(settings)
    elapsed = time.perf_counter() - start
    print(f"enqueue + run                {done / elapsed:8.0f} jobs/s   ({done} in {elapsed:.2f} s)")

    left = await OutboxJob.count().where(OutboxJob.status != "done")
    print(f"job functions called {ran}, rows not done {left}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="how many jobs per phase (default 1000)")
    asyncio.run(main(parser.parse_args().jobs))
