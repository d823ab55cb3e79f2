"""Read queries shared by the pages and the API. Queries about one covenant take its TenantContext and
filter by it, so no caller can forget the tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imvo.platform import audit
from imvo.platform.tables import Account, AuditEntry, Invitation, Membership
from imvo.platform.tenancy import TenantContext


@dataclass
class CovenantSummary:
    slug: str
    name: str
    sector: str
    languages: list[str]
    roles: list[str] = field(default_factory=list)


_COVENANTS_OF = """
    SELECT m.role, c.slug, c.name, c.sector, c.languages
    FROM membership m JOIN covenant c ON c.id = m.covenant
    WHERE m.account = {} %s
    ORDER BY c.name, c.slug, m.role
"""


async def covenants_of(account_id: int, only_covenant_id: int | None = None) -> list[CovenantSummary]:
    """The covenants an account holds a role in, by name, with its roles (a token sees only its own).

    Plain SQL: the start page and /api/v1/me run it on every visit, and Piccolo's joins cost more to build
    than to run (bench/requests.py).
    """
    if only_covenant_id is None:
        rows = await Membership.raw(_COVENANTS_OF % "", account_id)
    else:
        rows = await Membership.raw(_COVENANTS_OF % "AND c.id = {}", account_id, only_covenant_id)
    found: dict[str, CovenantSummary] = {}
    for row in rows:
        summary = found.setdefault(
            row["slug"],
            CovenantSummary(row["slug"], row["name"], row["sector"], list(row["languages"] or [])),
        )
        summary.roles.append(row["role"])
    return list(found.values())


async def people_of(tenant: TenantContext) -> list[dict[str, Any]]:
    """Everyone with a role in the covenant: one row per role, by name."""
    return (
        await Membership.select(
            Membership.id,
            Membership.role,
            Membership.created_at,
            Membership.account.name.as_alias("name"),
            Membership.account.email.as_alias("email"),
        )
        .where(Membership.covenant == tenant.covenant_id)
        .order_by(Membership.account.name)
        .order_by(Membership.role)
    )


async def role_holder(tenant: TenantContext, membership_id: int) -> dict[str, Any] | None:
    """One role in the covenant and who holds it; None for a role of another covenant."""
    rows = await Membership.select(
        Membership.id,
        Membership.role,
        Membership.account.name.as_alias("name"),
        Membership.account.email.as_alias("email"),
    ).where((Membership.id == membership_id) & (Membership.covenant == tenant.covenant_id))
    return rows[0] if rows else None


async def open_invitations_of(tenant: TenantContext) -> list[dict[str, Any]]:
    """Invitations that can still be accepted, newest first."""
    return (
        await Invitation.select(
            Invitation.id, Invitation.email, Invitation.role, Invitation.expires_at, Invitation.created_at
        )
        .where(
            (Invitation.covenant == tenant.covenant_id)
            & Invitation.accepted_at.is_null()
            & (Invitation.expires_at > datetime.now(UTC))
        )
        .order_by(Invitation.created_at, ascending=False)
    )


@dataclass(frozen=True)
class AuditView:
    entries: list[dict[str, Any]]  # newest first
    account_names: dict[int, str]  # the actors, and the accounts entries concern
    report: audit.ChainReport


def _account_id(subject: str) -> int | None:
    kind, _, number = subject.partition(":")
    return int(number) if kind == "account" and number.isdigit() else None


async def audit_log_of(tenant: TenantContext, limit: int = 200) -> AuditView:
    """The newest entries of the covenant's chain, the names of the people in them, and a check of the chain."""
    chain = audit.covenant_chain(tenant.covenant_id)
    entries = (
        await AuditEntry.select()
        .where(AuditEntry.chain == chain)
        .order_by(AuditEntry.seq, ascending=False)
        .limit(max(1, min(limit, 1000)))
        .output(load_json=True)
    )
    people = {e["actor"] for e in entries if e["actor"] is not None}
    people |= {account for e in entries if (account := _account_id(e["subject"])) is not None}
    names = (
        {
            row["id"]: row["name"]
            for row in await Account.select(Account.id, Account.name).where(Account.id.is_in(list(people)))
        }
        if people
        else {}
    )
    return AuditView(entries=entries, account_names=names, report=await audit.verify_chain(chain))
