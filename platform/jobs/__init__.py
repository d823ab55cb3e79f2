"""Background jobs through a transactional outbox.

`enqueue` writes an OutboxJob row inside the caller's transaction, so a job exists exactly when the change
that caused it was committed. A runner then takes pending rows: with REDIS_URL they are relayed to arq (job id
`outbox:<id>:<attempt>`) and run by `imvo worker`; without it they run in the web process. Either way the same
registered function runs, and a row that is done is never run again.

A row moves pending → (queued →) running → done. A failure puts it back to pending with a back-off, and after
MAX_ATTEMPTS it is failed. A run that never finishes (a killed process) leaves it running; after
RUNNING_LEASE that counts as a failed attempt and the job is retried. Jobs therefore run at least once, and
must be safe to run again after a crash (mail builders check whether the mail is still wanted).

- `outbox`: the registry (`@job`), `enqueue`, running one job, and the in-process runner's pass;
- `relay`: the relay to arq, the arq function and the worker (`WorkerSettings`, `run_worker`);
- `runner`: the web process's OutboxRunner (`jobs_lifespan`) and `drain`.
"""

from imvo.platform.jobs.outbox import (
    JOBS,
    MAX_ATTEMPTS,
    RUNNING_LEASE,
    JobContext,
    JobFunction,
    backoff,
    enqueue,
    job,
    load_job_modules,
    run_pending,
)
from imvo.platform.jobs.relay import WorkerSettings, relay, run_arq_burst, run_outbox_job, run_worker
from imvo.platform.jobs.runner import OutboxRunner, drain, jobs_lifespan

__all__ = [
    "JOBS",
    "MAX_ATTEMPTS",
    "RUNNING_LEASE",
    "JobContext",
    "JobFunction",
    "OutboxRunner",
    "WorkerSettings",
    "backoff",
    "drain",
    "enqueue",
    "job",
    "jobs_lifespan",
    "load_job_modules",
    "relay",
    "run_arq_burst",
    "run_outbox_job",
    "run_pending",
    "run_worker",
]
