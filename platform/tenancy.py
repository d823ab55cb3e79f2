"""Covenants as tenants: the context every repository takes, and the guards that build it.

A covenant the asker holds no role in does not exist for them: every lookup answers 404, never 403, so a
URL reveals nothing. Roles are checked by guards; repositories filter by `tenant.covenant_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from imvo.platform.auth import current_principal, requires_sign_in
from imvo.platform.tables import Membership, Role

_SCOPE_KEY = "imvo.tenant"


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The covenant a request works in, and who works in it with which roles."""

    covenant_id: int
    slug: str
    name: str
    sector: str
    languages: tuple[str, ...]
    account_id: int
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


# Every covenant page and API call runs this: plain SQL, as building Piccolo's join costs more than running it.
_TENANT_LOOKUP = """
    SELECT m.role, c.id, c.name, c.sector, c.languages
    FROM membership m JOIN covenant c ON c.id = m.covenant
    WHERE c.slug = {} AND m.account = {}
"""


async def tenant_for(account_id: int, slug: str, token_covenant_id: int | None = None) -> TenantContext:
    """The tenant context of `account_id` in the covenant `slug`; 404 unless the account holds a role there."""
    if "\x00" in slug:  # not a slug, and PostgreSQL would refuse the query
        raise NotFoundException()
    rows = await Membership.raw(_TENANT_LOOKUP, slug, account_id)
    if not rows or (token_covenant_id is not None and rows[0]["id"] != token_covenant_id):
        raise NotFoundException()
    covenant = rows[0]
    return TenantContext(
        covenant_id=covenant["id"],
        slug=slug,
        name=covenant["name"],
        sector=covenant["sector"],
        languages=tuple(covenant["languages"] or ()),
        account_id=account_id,
        roles=frozenset(Role(r["role"]) for r in rows),
    )


async def load_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantContext:
    """The tenant of a `/c/{slug}` or `/api/v1/covenants/{slug}` request, looked up once per request."""
    if (cached := connection.scope.get(_SCOPE_KEY)) is not None:
        return cached
    principal = current_principal(connection)
    if principal is None:
        raise NotFoundException()
    tenant = await tenant_for(
        principal.account_id, connection.path_params["slug"], principal.token_covenant_id
    )
    connection.scope[_SCOPE_KEY] = tenant  # type: ignore[literal-required]
    return tenant


async def requires_membership(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    requires_sign_in(connection, handler)
    await load_tenant(connection)


def requires_role(*roles: Role) -> Any:
    """A guard: a member holding at least one of `roles` in this covenant (others get 403, strangers 404)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        await requires_membership(connection, handler)
        tenant = await load_tenant(connection)
        if not tenant.has(*roles):
            raise PermissionDeniedException("Your role in this covenant does not allow this.")

    guard.__name__ = "requires_" + "_or_".join(r.value for r in roles)
    return guard


async def provide_tenant(request: Request[Any, Any, Any]) -> TenantContext:
    """Dependency `tenant` for handlers under a `{slug}` path."""
    return await load_tenant(request)


# Handlers take `tenant: Tenant`: the dependency `tenant` declared on their controller.
Tenant = NamedDependency[TenantContext]
