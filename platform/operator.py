"""Covenants as a whole: operators open them (with the invitation of a first secretariat member); each
covenant's secretariat then keeps its name, sector and languages up to date."""

from __future__ import annotations

import re

from imvo.platform import accounts, audit
from imvo.platform.db import write_txn
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_, available_locales
from imvo.platform.settings import Settings
from imvo.platform.tables import Covenant, Role
from imvo.platform.tenancy import TenantContext

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _check_details(name: str, sector: str, languages: list[str]) -> None:
    if not name.strip() or len(name) > 200:
        raise UserError(N_("Enter the covenant's name."), field="name")
    if not sector.strip() or len(sector) > 100:
        raise UserError(N_("Enter the sector."), field="sector")
    if not languages or any(code not in available_locales() for code in languages):
        raise UserError(N_("Choose at least one of the offered languages."), field="languages")


async def create_covenant(
    *, slug: str, name: str, sector: str, languages: list[str], actor: int | None
) -> Covenant:
    """A new, empty covenant."""
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise UserError(
            N_("Use lower-case letters, digits and hyphens for the short name (at most 64)."), field="slug"
        )
    _check_details(name, sector, languages)
    async with write_txn():
        if await Covenant.exists().where(Covenant.slug == slug):
            raise UserError(N_("Another covenant already uses this short name."), field="slug")
        covenant = Covenant(
            slug=slug, name=name.strip(), sector=sector.strip(), languages=languages, settings={}
        )
        await covenant.save()
        await audit.record(
            "covenant.created", covenant_id=covenant.id, actor=actor, subject=f"covenant:{slug}"
        )
    return covenant


async def open_covenant(
    settings: Settings,
    *,
    slug: str,
    name: str,
    sector: str,
    languages: list[str],
    operator_id: int,
    secretariat_email: str,
    invitation_locale: str,
) -> Covenant:
    """Create a covenant and invite its first secretariat member, both or neither."""
    async with write_txn():
        covenant = await create_covenant(
            slug=slug, name=name, sector=sector, languages=languages, actor=operator_id
        )
        as_operator = TenantContext(
            covenant_id=covenant.id,
            slug=covenant.slug,
            name=covenant.name,
            sector=covenant.sector,
            languages=tuple(languages),
            account_id=operator_id,
            roles=frozenset(),
        )
        await accounts.invite(
            settings,
            as_operator,
            email=secretariat_email,
            role=Role.secretariat.value,
            locale=invitation_locale,
        )
    return covenant


async def update_covenant(tenant: TenantContext, *, name: str, sector: str, languages: list[str]) -> None:
    """Change a covenant's name, sector and languages (its secretariat); the short name stays."""
    _check_details(name, sector, languages)
    changes = {"name": name.strip(), "sector": sector.strip(), "languages": sorted(set(languages))}
    async with write_txn():
        await Covenant.update(
            {
                Covenant.name: changes["name"],
                Covenant.sector: changes["sector"],
                Covenant.languages: changes["languages"],
            }
        ).where(Covenant.id == tenant.covenant_id)
        await audit.record(
            "covenant.updated",
            covenant_id=tenant.covenant_id,
            actor=tenant.account_id,
            subject=f"covenant:{tenant.slug}",
            details=changes,
        )
