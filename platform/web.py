"""Small pieces every HTML view uses: forms, errors in the page, the covenant menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.response import Redirect, Template

from imvo.platform.auth import Principal
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_, gettext
from imvo.platform.tables import Role
from imvo.platform.tenancy import TenantContext

AnyRequest = Request[Any, Any, Any]


def current_user(request: AnyRequest) -> Principal | None:
    return request.scope.get("user")


def locale_of(request: AnyRequest) -> str:
    return getattr(request.state, "locale", "en")


def t(request: AnyRequest, message: str, **params: Any) -> str:
    """Translate a workspace message for this request."""
    return gettext(locale_of(request), message, **params)


async def form_data(request: AnyRequest) -> dict[str, str]:
    """The submitted form as plain strings (the last value of a repeated field; files are ignored)."""
    form = await request.form()
    # NUL never belongs in text, and PostgreSQL refuses it: drop it rather than fail.
    return {key: value.replace("\x00", "") for key, value in form.items() if isinstance(value, str)}


def page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"platform/{template}", context=context, status_code=status_code)


def form_page(request: AnyRequest, template: str, error: UserError, **context: Any) -> Template:
    """Show the form again with the error beside its field; 400 (or the error's status), nothing changed."""
    errors = {error.field or "_form": error.text(locale_of(request))}
    return page(template, status_code=error.status, errors=errors, **context)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so a crafted `next` cannot send someone to another site after sign-in."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def see_other(path: str) -> Redirect:
    return Redirect(path, status_code=303)


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


def covenant_nav(tenant: TenantContext) -> list[NavItem]:
    """The covenant menu for the roles held; pages of other packages add their items here as they come."""
    base = f"/c/{tenant.slug}"
    items = [NavItem(base, N_("Overview"))]
    if tenant.has(Role.secretariat):
        items += [
            NavItem(f"{base}/people", N_("People")),
            NavItem(f"{base}/settings", N_("Settings")),
            NavItem(f"{base}/audit", N_("Audit log")),
        ]
    return items


ROLE_LABELS = {  # in the order forms offer them: the least powerful first
    Role.company: N_("Member company"),
    Role.party: N_("Covenant party"),
    Role.translator: N_("Translator"),
    Role.handler: N_("Grievance handler"),
    Role.custodian: N_("Identity custodian"),
    Role.secretariat: N_("Secretariat"),
}


def role_label(role: str | Role) -> str:
    """The msgid naming a role; templates translate it."""
    return ROLE_LABELS[Role(role)]


def install(engine: Any) -> None:
    engine.globals.update(current_user=current_user, covenant_nav=covenant_nav, role_label=role_label)
