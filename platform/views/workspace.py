"""The start page, a covenant's shell pages (overview, people, settings, audit log), the operator's pages, /health."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from imvo.platform import accounts, audit, operator, repository
from imvo.platform.auth import requires_operator
from imvo.platform.errors import UserError
from imvo.platform.i18n import available_locales
from imvo.platform.tables import Covenant, Membership, Role
from imvo.platform.tenancy import Tenant, TenantContext, provide_tenant, requires_membership, requires_role
from imvo.platform.web import ROLE_LABELS, AnyRequest, current_user, form_data, locale_of, page, see_other


@get("/", include_in_schema=False)
async def home(request: AnyRequest) -> Template | Redirect:
    user = current_user(request)
    if user is None:
        return page("home.html")
    if user.needs_totp_enrolment:
        return see_other("/account/two-factor")
    covenants = await repository.covenants_of(user.account_id)
    return page("home.html", covenants=covenants)


@get("/health", include_in_schema=False)
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Database and, when configured, Redis: 200 when both answer, 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        await Covenant.raw("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    if (redis := request.app.state.redis) is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return Response(
        {"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503
    )


class CovenantController(Controller):
    path = "/c/{slug:str}"
    guards = [requires_membership]
    dependencies = {"tenant": Provide(provide_tenant)}
    include_in_schema = False

    @get("/")
    async def overview(self, tenant: Tenant) -> Template:
        members = await Membership.count().where(Membership.covenant == tenant.covenant_id)
        return page("covenant/overview.html", tenant=tenant, people=members)

    async def _people(self, tenant: TenantContext, status_code: int = 200, **context: Any) -> Template:
        memberships = await repository.people_of(tenant)
        invitations = await repository.open_invitations_of(tenant)
        return page(
            "covenant/people.html",
            status_code=status_code,
            tenant=tenant,
            memberships=memberships,
            invitations=invitations,
            roles=ROLE_LABELS,  # in this order: the least powerful role is the default
            locales=available_locales(),
            **context,
        )

    @get("/people", guards=[requires_role(Role.secretariat)])
    async def people(self, tenant: Tenant) -> Template:
        return await self._people(tenant)

    @post("/people/invite", guards=[requires_role(Role.secretariat)])
    async def invite(self, request: AnyRequest, tenant: Tenant) -> Template | Redirect:
        data = await form_data(request)
        try:
            await accounts.invite(
                request.app.state.settings,
                tenant,
                email=data.get("email", ""),
                role=data.get("role", ""),
                locale=data.get("locale", locale_of(request)),
            )
        except UserError as error:
            errors = {error.field or "_form": error.text(locale_of(request))}
            return await self._people(tenant, error.status, errors=errors, form=data)
        return see_other(f"/c/{tenant.slug}/people?invited=1")

    @post("/people/{membership_id:int}/revoke", guards=[requires_role(Role.secretariat)])
    async def revoke(
        self, request: AnyRequest, tenant: Tenant, membership_id: FromPath[int]
    ) -> Template | Redirect:
        """First a confirmation page (no script needed), then the removal when it is confirmed."""
        if (await form_data(request)).get("confirm") != "yes":
            person = await repository.role_holder(tenant, membership_id)
            if person is None:
                raise NotFoundException()
            return page("covenant/revoke.html", tenant=tenant, person=person)
        try:
            await accounts.revoke_membership(tenant, membership_id)
        except UserError as error:
            return await self._people(tenant, error.status, errors={"_form": error.text(locale_of(request))})
        return see_other(f"/c/{tenant.slug}/people")

    @post("/invitations/{invitation_id:int}/withdraw", guards=[requires_role(Role.secretariat)])
    async def withdraw(
        self, request: AnyRequest, tenant: Tenant, invitation_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            await accounts.withdraw_invitation(tenant, invitation_id)
        except UserError as error:
            return await self._people(tenant, error.status, errors={"_form": error.text(locale_of(request))})
        return see_other(f"/c/{tenant.slug}/people")

    @get("/settings", guards=[requires_role(Role.secretariat)])
    async def settings_form(self, tenant: Tenant) -> Template:
        return page("covenant/settings.html", tenant=tenant, locales=available_locales())

    @post("/settings", guards=[requires_role(Role.secretariat)])
    async def save_settings(self, request: AnyRequest, tenant: Tenant) -> Template | Redirect:
        data = await form_data(request)
        languages = [v for v in (await request.form()).getall("languages", []) if isinstance(v, str)]
        try:
            await operator.update_covenant(
                tenant, name=data.get("name", ""), sector=data.get("sector", ""), languages=languages
            )
        except UserError as error:
            errors = {error.field or "_form": error.text(locale_of(request))}
            return page(
                "covenant/settings.html",
                status_code=error.status,
                tenant=tenant,
                locales=available_locales(),
                errors=errors,
                form={**data, "languages": languages},
            )
        return see_other(f"/c/{tenant.slug}/settings?saved=1")

    @get("/audit", guards=[requires_role(Role.secretariat)])
    async def audit_log(self, tenant: Tenant) -> Template:
        log = await repository.audit_log_of(tenant)
        return page("covenant/audit.html", tenant=tenant, log=log, labels=audit.ACTION_LABELS)


class OperatorController(Controller):
    path = "/operator"
    guards = [requires_operator]
    include_in_schema = False

    async def _page(self, status_code: int = 200, **context: Any) -> Template:
        covenants = await Covenant.select(
            Covenant.slug, Covenant.name, Covenant.sector, Covenant.created_at
        ).order_by(Covenant.name)
        return page(
            "operator/covenants.html",
            status_code=status_code,
            covenants=covenants,
            locales=available_locales(),
            **context,
        )

    @get("/")
    async def covenants(self) -> Template:
        return await self._page()

    @post("/covenants")
    async def create(self, request: AnyRequest) -> Template | Redirect:
        """Create a covenant and invite its first secretariat member."""
        data = await form_data(request)
        languages = [v for v in (await request.form()).getall("languages", []) if isinstance(v, str)]
        user = current_user(request)
        assert user is not None
        try:
            covenant = await operator.open_covenant(
                request.app.state.settings,
                slug=data.get("slug", ""),
                name=data.get("name", ""),
                sector=data.get("sector", ""),
                languages=languages,
                operator_id=user.account_id,
                secretariat_email=data.get("secretariat_email", ""),
                invitation_locale=data.get("invitation_locale", locale_of(request)),
            )
        except UserError as error:
            # The invitation's address is called secretariat_email on this form.
            field = "secretariat_email" if error.field == "email" else error.field or "_form"
            return await self._page(error.status, errors={field: error.text(locale_of(request))}, form=data)
        return see_other(f"/operator?created={covenant.slug}")


ROUTES = [home, health, CovenantController, OperatorController]
