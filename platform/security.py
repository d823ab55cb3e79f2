"""Security headers on every response, and CSRF protection that knows about API tokens."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

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


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


class ForwardedClientMiddleware(ASGIMiddleware):
    """Behind a load balancer, the client is the one its X-Forwarded-For names, not the balancer.

    Only when the direct peer is a trusted proxy (TRUSTED_PROXIES): the list is read from the right, past
    every trusted hop, so a client cannot claim another address by sending the header itself. The scheme
    follows X-Forwarded-Proto from a trusted peer.
    """

    def __init__(self, trusted: tuple[str, ...]) -> None:
        self.trusted = tuple(ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip())

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        client = scope.get("client")
        if self.trusted and client and self._is_trusted(client[0]):
            headers = {name: value.decode("latin-1") for name, value in scope.get("headers", ())}
            hops = [hop.strip() for hop in headers.get(b"x-forwarded-for", "").split(",") if hop.strip()]
            for hop in reversed(hops):
                if not self._is_trusted(hop):
                    if _is_address(hop):  # anything else is not from our proxy: keep the peer
                        scope["client"] = (hop, 0)
                    break
            if headers.get(b"x-forwarded-proto", "").strip().lower() in {"http", "https"}:
                scope["scheme"] = headers[b"x-forwarded-proto"].strip().lower()
        await next_app(scope, receive, send)


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """CSRF for cookie-authenticated requests; a request with an API token under /api/ carries no cookie
    authority (the token alone decides) and a browser cannot add that header across sites, so it passes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and bearer_token(scope):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
