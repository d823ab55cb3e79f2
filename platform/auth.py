"""Who is asking: the signed-in person from the session cookie, or from a personal API token.

The middleware sets `scope["user"]` to a Principal or None on every routed request and never refuses one;
guards decide. An API token is honoured only under /api/, and a request that carries one is judged by the
token alone (no cookie), which is why such requests need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from imvo.platform.crypto import token_hash
from imvo.platform.tables import ROLES_REQUIRING_TOTP, Account, ApiToken

SESSION_ACCOUNT = "account_id"
SESSION_EPOCH = "epoch"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    email: str
    name: str
    locale: str
    is_operator: bool
    totp_enabled: bool
    needs_totp_enrolment: bool = False
    token_id: int | None = None
    token_covenant_id: int | None = None


class TotpEnrolmentRequired(PermissionDeniedException):
    """Signed in, but a role held requires a second factor that is not set up yet."""


class TokenRejected(NotAuthorizedException):
    """An API token that is unknown, expired or revoked."""


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


# Every signed-in request runs this: one query, which also tells whether a role demands a second factor.
_ACCOUNT_BY_ID = f"""
    SELECT a.id, a.email, a.name, a.locale, a.is_operator, a.totp_enabled_at, a.disabled_at, a.session_epoch,
           EXISTS (SELECT 1 FROM membership m WHERE m.account = a.id
                   AND m.role IN ({", ".join(f"'{role.value}'" for role in sorted(ROLES_REQUIRING_TOTP))}))
           AS holds_guarded_role
    FROM account a
    WHERE a.id = {{}}
"""  # noqa: S608  (the roles are the enum's own constants, not input)


async def _account_principal(account_id: int, epoch: int | None) -> Principal | None:
    rows = await Account.raw(_ACCOUNT_BY_ID, account_id)
    account = rows[0] if rows else None
    if account is None or account["disabled_at"] is not None or account["session_epoch"] != epoch:
        return None
    totp_enabled = account["totp_enabled_at"] is not None
    # Operators create covenants and their first secretariats: they need a second factor as well.
    guarded = bool(account["is_operator"]) or bool(account["holds_guarded_role"])
    return Principal(
        account_id=account["id"],
        email=account["email"],
        name=account["name"],
        locale=account["locale"],
        is_operator=bool(account["is_operator"]),
        totp_enabled=totp_enabled,
        needs_totp_enrolment=guarded and not totp_enabled,
    )


# Every API call runs this: plain SQL, as Piccolo spends more time building a join than the database
# spends answering it (bench/requests.py).
_PRINCIPAL_BY_HASH = """
    SELECT t.id, t.covenant, t.expires_at, t.revoked_at, t.last_used_at,
           a.id AS account_id, a.email, a.name, a.locale, a.totp_enabled_at, a.disabled_at
    FROM api_token t JOIN account a ON a.id = t.account
    WHERE t.token_hash = {}
"""


async def _token_principal(token: str) -> Principal:
    now = datetime.now(UTC)
    rows = await ApiToken.raw(_PRINCIPAL_BY_HASH, token_hash(token))
    row = rows[0] if rows else None
    if (
        row is None
        or row["revoked_at"] is not None
        or row["expires_at"] <= now
        or row["disabled_at"] is not None
    ):
        raise TokenRejected("The API token is unknown, expired or revoked.")
    # Writing on every call would serialise API traffic on one row; a minute's precision is enough.
    if row["last_used_at"] is None or (now - row["last_used_at"]).total_seconds() > 60:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    return Principal(
        account_id=row["account_id"],
        email=row["email"],
        name=row["name"],
        locale=row["locale"],
        is_operator=False,  # operator powers are for the signed-in web, never for tokens
        totp_enabled=row["totp_enabled_at"] is not None,
        token_id=row["id"],
        token_covenant_id=row["covenant"],
    )


class AuthenticationMiddleware(ASGIMiddleware):
    """Sets scope["user"]: a Principal or None. Needs the session middleware outside it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal: Principal | None = None
        token = bearer_token(scope) if scope["path"].startswith("/api/") else None
        if token is not None:
            principal = await _token_principal(token)
            limiter = scope["app"].state.rate_limiter
            settings = scope["app"].state.settings
            if not await limiter.hit(f"token:{principal.token_id}", settings.api_requests_per_minute, 60):
                raise TooManyRequestsException("Too many requests for this API token; wait a minute.")
        else:
            session: dict[str, Any] = scope.get("session") or {}
            if isinstance(session, dict) and (account_id := session.get(SESSION_ACCOUNT)):
                principal = await _account_principal(int(account_id), session.get(SESSION_EPOCH))
        scope["user"] = principal
        await next_app(scope, receive, send)


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return connection.scope.get("user")


def requires_session(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Signed in, even if the second factor still has to be set up."""
    if current_principal(connection) is None:
        raise NotAuthorizedException("Please sign in.")


def requires_sign_in(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Signed in completely: with a second factor where a role demands one."""
    requires_session(connection, handler)
    principal = current_principal(connection)
    if principal is not None and principal.needs_totp_enrolment:
        raise TotpEnrolmentRequired("Set up two-step sign-in first.")


def requires_web_session(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Signed in through the web, not with an API token (account settings, token management)."""
    requires_sign_in(connection, handler)
    principal = current_principal(connection)
    if principal is not None and principal.token_id is not None:
        raise PermissionDeniedException("This is not available with an API token.")


def requires_operator(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    requires_web_session(connection, handler)
    principal = current_principal(connection)
    if principal is None or not principal.is_operator:
        raise PermissionDeniedException("Only platform operators may do this.")
