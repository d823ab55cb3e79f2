"""The database: engine, pool lifespan, write transactions and migrations."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# Piccolo finds its configuration through this variable; app servers do not put the cwd on sys.path.
os.environ.setdefault("PICCOLO_CONF", "imvo.platform.piccolo_conf")

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString


class MigrationError(RuntimeError):
    pass


def engine() -> Engine:
    db = engine_finder()
    if db is None:
        raise RuntimeError("Piccolo found no engine: is PICCOLO_CONF importable?")
    return db


def is_sqlite() -> bool:
    return engine().engine_type == "sqlite"


def write_txn() -> Any:
    """A transaction for work that writes.

    On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    writes fails with "database is locked" when another writer got there first. Inside a transaction that is
    already open it joins it.
    """
    db = engine()
    if db.engine_type == "sqlite":
        return db.transaction(transaction_type=TransactionType.immediate)  # type: ignore[call-arg]
    return db.transaction()


async def use_write_ahead_log() -> None:
    """SQLite in WAL mode: readers don't wait for the writer, and a commit is one append, not a journal
    rewrite. The mode is kept in the database file, so setting it once is enough."""
    if is_sqlite():
        await engine().run_querystring(QueryString("PRAGMA journal_mode=WAL"))


async def migrate() -> None:
    """Apply every migration not yet applied."""
    await use_write_ahead_log()
    result = await run_forwards(app_name="all")
    if not result.success:
        raise MigrationError(result.message)


@asynccontextmanager
async def database_lifespan(_app: object = None) -> AsyncIterator[None]:
    """Open the PostgreSQL connection pool for the app's lifetime (SQLite needs none)."""
    db = engine()
    if db.engine_type == "postgres":
        await db.start_connection_pool(max_size=int(os.environ.get("DATABASE_POOL_SIZE", "10")))
        try:
            yield
        finally:
            await db.close_connection_pool()
    else:
        await use_write_ahead_log()
        yield
