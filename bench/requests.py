"""Requests per second through the whole app in-process (no network): anonymous page, signed-in page,
API call with a token, and a sign-in with production Argon2id cost.

Run: DATA_DIR=$(mktemp -d) .venv/bin/python bench/requests.py   (add DATABASE_URL/REDIS_URL to compare)
Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="imvo-bench-"))

import httpx

from imvo.platform import accounts, operator, tokens
from imvo.platform.app import create_app
from imvo.platform.db import migrate
from imvo.platform.settings import Settings
from imvo.platform.tables import Role


async def timed(client: httpx.AsyncClient, label: str, path: str, n: int, **kwargs: object) -> None:
    durations = []
    for _ in range(n):
        start = time.perf_counter()
        response = await client.get(path, **kwargs)  # type: ignore[arg-type]
        durations.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    total = sum(durations)
    print(
        f"{label:<34} {n / total:8.0f} req/s   median {statistics.median(durations) * 1000:6.2f} ms"
        f"   p95 {sorted(durations)[int(n * 0.95)] * 1000:6.2f} ms"
    )


async def main() -> None:
    # The per-token limit (120/min) would stop the benchmark; it is measured here, not the limiter.
    settings = Settings.from_env().with_(api_requests_per_minute=10**9)
    await migrate()
    app = create_app(settings)
    suffix = str(int(time.time()))
    covenant = await operator.create_covenant(
        slug=f"bench-{suffix}", name="Bench", sector="Bench", languages=["en"], actor=None
    )
    account = await accounts.create_account(
        settings, email=f"bench-{suffix}@example.org", name="Bench", password="bench password 1"
    )
    await accounts.add_membership(covenant.id, account.id, Role.company, actor=None)
    _, secret = await tokens.create_token(account.id, covenant.slug, "bench", 1)

    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(
                f"database: {'PostgreSQL' if settings.is_postgres else 'SQLite'}; redis: {bool(settings.redis_url)}"
            )
            await timed(client, "GET /sign-in (anonymous page)", "/sign-in", 500)
            await timed(
                client,
                "GET /api/v1/me (token)",
                "/api/v1/me",
                500,
                headers={"authorization": f"Bearer {secret}"},
            )
            await timed(
                client,
                "GET /api/v1/covenants/{slug} (token)",
                f"/api/v1/covenants/{covenant.slug}",
                500,
                headers={"authorization": f"Bearer {secret}"},
            )
            await client.get("/sign-in")
            start = time.perf_counter()
            response = await client.post(
                "/sign-in",
                data={"email": account.email, "password": "bench password 1"},
                headers={"x-csrftoken": client.cookies.get("imvo_csrf", "")},
            )
            print(
                f"{'POST /sign-in (Argon2id 46 MiB, t=1)':<34} {(time.perf_counter() - start) * 1000:8.0f} ms"
            )
            assert response.status_code == 303
            await timed(client, "GET /c/{slug} (signed in)", f"/c/{covenant.slug}", 300)


if __name__ == "__main__":
    asyncio.run(main())
