"""The application factory: all wiring in one place, so this file reads as the table of contents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.logging.config import StructLoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.logging import LoggingMiddlewareConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template import TemplateConfig
from redis.asyncio import Redis

from imvo.platform import i18n, web
from imvo.platform.auth import AuthenticationMiddleware
from imvo.platform.db import database_lifespan
from imvo.platform.errors import EXCEPTION_HANDLERS
from imvo.platform.i18n import LocaleMiddleware
from imvo.platform.jobs import jobs_lifespan
from imvo.platform.ratelimit import MemoryRateLimiter, RedisRateLimiter
from imvo.platform.security import (
    BearerAwareCSRFMiddleware,
    ForwardedClientMiddleware,
    SecurityHeadersMiddleware,
)
from imvo.platform.sessions import RotatingSessionConfig
from imvo.platform.settings import ROOT, Settings

TEMPLATE_DIRS = [
    ROOT / "platform" / "templates",
    ROOT / "covenants" / "templates",
    ROOT / "grievances" / "templates",
]
STATIC_DIR = ROOT / "platform" / "static"


def cookie_name(name: str, https: bool) -> str:
    """Over https the `__Host-` prefix: the browser then refuses the cookie unless it is Secure, for this
    host only and for every path, so a sibling subdomain cannot plant or overwrite it."""
    return f"__Host-{name}" if https else name


def _routers() -> list[Any]:
    from imvo.platform import api, views

    return [
        *views.ROUTES,
        Router(path="/api/v1", route_handlers=api.ROUTES, tags=["platform"]),
        create_static_files_router(path="/static", directories=[STATIC_DIR], send_as_attachment=False),
    ]


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    session_store = RedisStore(redis, namespace="imvo:session") if redis else MemoryStore()

    @asynccontextmanager
    async def redis_lifespan(_app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if redis is not None:
                await redis.aclose()

    def install_templates(engine: JinjaTemplateEngine) -> None:
        i18n.install(engine.engine)
        web.install(engine.engine)
        engine.engine.globals["settings"] = settings

    app = Litestar(
        route_handlers=_routers(),
        middleware=[
            ForwardedClientMiddleware(settings.trusted_proxies),
            SecurityHeadersMiddleware(https=settings.https),
            LocaleMiddleware(settings),
            RotatingSessionConfig(
                key=cookie_name("imvo_session", settings.https),
                store="sessions",
                max_age=settings.session_hours * 3600,
                secure=settings.https,
                httponly=True,
                samesite="lax",
                renew_on_access=True,
            ).middleware,
            AuthenticationMiddleware(),
            DefineMiddleware(
                BearerAwareCSRFMiddleware,
                config=CSRFConfig(
                    secret=settings.secret_key,
                    cookie_name=cookie_name("imvo_csrf", settings.https),
                    cookie_secure=settings.https,
                    cookie_httponly=True,  # pages carry the token in their forms; no script reads it
                    cookie_samesite="lax",
                    header_name="x-csrftoken",
                ),
            ),
        ],
        stores={"sessions": session_store},
        template_config=TemplateConfig(
            directory=TEMPLATE_DIRS, engine=JinjaTemplateEngine, engine_callback=install_templates
        ),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="Covenant platform API",
            version="1",
            path="/schema",
            description=(
                "The JSON API of the covenant platform. Authenticate with a personal API token "
                "(`Authorization: Bearer imvo_…`), made on your account page; a token acts in one covenant "
                "with your roles there."
            ),
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "apiToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A personal API token (imvo_…), bound to one covenant; made on /account/tokens.",
                    )
                }
            ),
            security=[{"apiToken": []}],
        ),
        plugins=[
            StructlogPlugin(
                StructlogConfig(
                    structlog_logging_config=StructLoggingConfig(log_exceptions="debug"),
                    # Path, method and status only: no bodies, cookies, headers or client addresses.
                    middleware_logging_config=LoggingMiddlewareConfig(
                        request_log_fields=("path", "method"), response_log_fields=("status_code",)
                    ),
                )
            )
        ],
        lifespan=[database_lifespan, redis_lifespan, jobs_lifespan(settings)],
        debug=settings.debug,
    )
    app.state.settings = settings
    app.state.redis = redis
    app.state.rate_limiter = RedisRateLimiter(redis) if redis else MemoryRateLimiter()
    return app
