"""Security headers on every response, and CSRF protection that knows about API tokens."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from imvo.platform.auth import bearer_token

# No inline script or style, nothing from another origin, no framing, no referrer to leak case URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def security_headers(https: bool) -> dict[str, str]:
    headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
    }
    if https:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware(ASGIMiddleware):
    def __init__(self, https: bool) -> None:
        self.headers = security_headers(https)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if "cache-control" not in headers and not scope["path"].startswith("/static/"):
                    headers["cache-control"] = "no-store"  # pages may show personal or case data
            await send(message)

        await next_app(scope, receive, send_with_headers)


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """CSRF for cookie-authenticated requests; a request with an API token under /api/ carries no cookie
    authority (the token alone decides) and a browser cannot add that header across sites, so it passes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and bearer_token(scope):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
