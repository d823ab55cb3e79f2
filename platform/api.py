"""The platform's JSON API under /api/v1: who am I, my covenants, a covenant's people and audit log."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from imvo.platform import accounts, operator, repository
from imvo.platform.auth import requires_sign_in
from imvo.platform.schemas import (
    AuditEntryOut,
    AuditOut,
    CovenantChange,
    CovenantOut,
    InvitationIn,
    InvitationOut,
    MembershipOut,
    MeOut,
    PersonOut,
)
from imvo.platform.tables import Role
from imvo.platform.tenancy import Tenant, provide_tenant, requires_membership, requires_role
from imvo.platform.web import AnyRequest, current_user


@get("/me", guards=[requires_sign_in], summary="The account behind this token or session")
async def me(request: AnyRequest) -> MeOut:
    user = current_user(request)
    assert user is not None
    covenants = await repository.covenants_of(user.account_id, user.token_covenant_id)
    return MeOut(
        id=user.account_id,
        email=user.email,
        name=user.name,
        locale=user.locale,
        memberships=[MembershipOut(covenant=c.slug, role=role) for c in covenants for role in c.roles],
    )


class CovenantApi(Controller):
    path = "/covenants/{slug:str}"
    guards = [requires_membership]
    dependencies = {"tenant": Provide(provide_tenant)}

    @get("/", summary="The covenant and your roles in it")
    async def covenant(self, tenant: Tenant) -> CovenantOut:
        return CovenantOut(
            slug=tenant.slug,
            name=tenant.name,
            sector=tenant.sector,
            languages=list(tenant.languages),
            your_roles=sorted(r.value for r in tenant.roles),
        )

    @patch("/", guards=[requires_role(Role.secretariat)], summary="Change name, sector and languages")
    async def change(self, tenant: Tenant, data: JSONBody[CovenantChange]) -> CovenantOut:
        await operator.update_covenant(tenant, name=data.name, sector=data.sector, languages=data.languages)
        return CovenantOut(
            slug=tenant.slug,
            name=data.name.strip(),
            sector=data.sector.strip(),
            languages=sorted(set(data.languages)),
            your_roles=sorted(r.value for r in tenant.roles),
        )

    @get("/people", guards=[requires_role(Role.secretariat)], summary="Everyone with a role (secretariat)")
    async def people(self, tenant: Tenant) -> list[PersonOut]:
        rows = await repository.people_of(tenant)
        return [
            PersonOut(
                membership_id=r["id"], name=r["name"], email=r["email"], role=r["role"], since=r["created_at"]
            )
            for r in rows
        ]

    @post("/invitations", guards=[requires_role(Role.secretariat)], summary="Invite a person to a role")
    async def invite(
        self, request: AnyRequest, tenant: Tenant, data: JSONBody[InvitationIn]
    ) -> InvitationOut:
        invitation = await accounts.invite(
            request.app.state.settings, tenant, email=data.email, role=data.role, locale=data.locale
        )
        return InvitationOut(
            id=invitation.id, email=invitation.email, role=invitation.role, expires_at=invitation.expires_at
        )

    @get("/invitations", guards=[requires_role(Role.secretariat)], summary="Invitations not yet accepted")
    async def invitations(self, tenant: Tenant) -> list[InvitationOut]:
        return [
            InvitationOut(id=r["id"], email=r["email"], role=r["role"], expires_at=r["expires_at"])
            for r in await repository.open_invitations_of(tenant)
        ]

    @delete(
        "/invitations/{invitation_id:int}",
        guards=[requires_role(Role.secretariat)],
        summary="Withdraw an invitation: its link stops working",
    )
    async def withdraw(self, tenant: Tenant, invitation_id: FromPath[int]) -> None:
        await accounts.withdraw_invitation(tenant, invitation_id)

    @get(
        "/audit",
        guards=[requires_role(Role.secretariat)],
        summary="The latest audit entries and a chain check",
    )
    async def audit_log(self, tenant: Tenant, limit: FromQuery[int] = 100) -> AuditOut:
        log = await repository.audit_log_of(tenant, limit)
        return AuditOut(
            intact=log.report.intact,
            problems=list(log.report.problems),
            entries=[
                AuditEntryOut(
                    seq=r["seq"],
                    at=r["at"],
                    actor=r["actor"],
                    action=r["action"],
                    subject=r["subject"],
                    hash=r["hash"],
                )
                for r in log.entries
            ],
        )


@get("/covenants", guards=[requires_sign_in], summary="The covenants you hold a role in")
async def my_covenants(request: AnyRequest) -> list[CovenantOut]:
    user = current_user(request)
    assert user is not None
    covenants = await repository.covenants_of(user.account_id, user.token_covenant_id)
    return [CovenantOut(c.slug, c.name, c.sector, c.languages, c.roles) for c in covenants]


ROUTES = [me, my_covenants, CovenantApi]
