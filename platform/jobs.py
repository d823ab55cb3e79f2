"""Background jobs through a transactional outbox.

`enqueue` writes an OutboxJob row inside the caller's transaction, so a job exists exactly when the change
that caused it was committed. A runner then takes pending rows: with REDIS_URL they are relayed to arq (job id
`outbox:<id>:<attempt>`) and run by `imvo worker`; without it they run in the web process. Either way the same
registered function runs, and a row that is done is never run again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from imvo.platform.settings import Settings
from imvo.platform.tables import OutboxJob


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    job_id: int
    attempt: int


JobFunction = Callable[..., Awaitable[None]]
JOBS: dict[str, JobFunction] = {}


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register a job function `async def f(ctx: JobContext, **payload)`; payloads carry ids only."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = function
        return function

    return register


async def enqueue(name: str, **payload: Any) -> int:
    """Write a job to the outbox, in the transaction that is open (if any). Returns the outbox id."""
    if name not in JOBS:
        raise KeyError(f"no job named {name!r}")
    rows = await OutboxJob.insert(OutboxJob(name=name, payload=payload)).returning(OutboxJob.id)
    return rows[0]["id"]
