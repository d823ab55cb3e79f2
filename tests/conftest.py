"""Test set-up: a fresh database per run (SQLite by default, PostgreSQL when DATABASE_URL is set), emptied
after every test, and an app served in-process on the test's own event loop.

With REDIS_URL set, sessions, rate limits and jobs use a Redis database of their own (1-15, by process id),
emptied before each test.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

# The engine is chosen when imvo is first imported, so the database is settled here, before any import.
_TMP = Path(tempfile.mkdtemp(prefix="imvo-tests-"))
_BASE_DATABASE_URL = os.environ.get("DATABASE_URL", "")
os.environ["DATA_DIR"] = str(_TMP)
if _BASE_DATABASE_URL.startswith(("postgres://", "postgresql://")):
    _parts = urlsplit(_BASE_DATABASE_URL)
    _TEST_DB = f"imvo_test_{uuid.uuid4().hex[:12]}"
    os.environ["DATABASE_URL"] = urlunsplit(_parts._replace(path=f"/{_TEST_DB}"))
else:
    _TEST_DB = None
    os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'test.sqlite3'}"


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_BASE_DATABASE_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


if _TEST_DB is not None:  # PostgresEngine asks the server for its version when it is made
    asyncio.run(_admin(f'CREATE DATABASE "{_TEST_DB}"'))
if os.environ.get("REDIS_URL"):
    _redis = urlsplit(os.environ["REDIS_URL"])
    # A database of its own per run (1-15 by process id), so two runs on one machine don't empty each other's.
    os.environ["REDIS_URL"] = urlunsplit(_redis._replace(path=f"/{1 + os.getpid() % 15}"))

import httpx  # noqa: E402

from imvo.platform.settings import PasswordCost, Settings  # noqa: E402
from tests.helpers import TABLES_IN_DELETE_ORDER  # noqa: E402

POSTGRES = _TEST_DB is not None
REDIS_URL = os.environ.get("REDIS_URL")


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    """Create the test database and run every migration, once per run."""
    from imvo.platform.db import migrate

    await migrate()
    yield
    if POSTGRES:
        await _admin(f'DROP DATABASE IF EXISTS "{_TEST_DB}" WITH (FORCE)')


@pytest.fixture(autouse=True)
async def clean_state() -> AsyncIterator[None]:
    """Every test starts from empty tables (and an empty Redis database)."""
    if REDIS_URL:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
    yield
    if POSTGRES:
        names = ", ".join(t._meta.tablename for t in TABLES_IN_DELETE_ORDER)
        await TABLES_IN_DELETE_ORDER[0].raw(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        for table in TABLES_IN_DELETE_ORDER:
            await table.delete(force=True)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        database_url=os.environ["DATABASE_URL"],
        secret_key="test-secret-key-" + "x" * 32,
        base_url="http://testserver",
        redis_url=REDIS_URL,
        data_dir=_TMP,
        smtp_host="127.0.0.1",
        smtp_port=1,  # tests that send mail start their own SMTP server and pass its port
        # Low cost keeps the suite fast; the production parameters are tested in test_crypto.py.
        password_cost=PasswordCost(memory_kib=1024, iterations=1, lanes=1),
        job_poll_seconds=0.05,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    from imvo.platform.app import create_app

    application = create_app(settings)
    # The lifespan is entered and left in one task of its own: anyio's task groups inside it must not
    # see pytest-asyncio's set-up and tear-down run in different tasks.
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with application.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # start-up failed: raise its error here
    yield application
    stop.set()
    await task


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def other_client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    for item in items:
        if "redis" in item.keywords and not REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL (CI sets it)"))
