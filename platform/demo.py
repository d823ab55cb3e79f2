"""Demo data: two covenants and a person for every role, made through the services and safe to load twice.

Every demo account signs in with DEMO_PASSWORD. Loading again finds what exists by e-mail address and slug and
adds only what is missing, so it never fails on, or duplicates, earlier demo data.
"""

from __future__ import annotations

from dataclasses import dataclass

from imvo.platform import accounts, operator
from imvo.platform.i18n import available_locales
from imvo.platform.settings import Settings
from imvo.platform.tables import ROLES_REQUIRING_TOTP, Account, Covenant, Role

# One password for every demo account, printed by `imvo demo` and given in the README: demo data only.
DEMO_PASSWORD = "demo-password"  # noqa: S105


@dataclass(frozen=True)
class DemoCovenant:
    slug: str
    name: str
    sector: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    is_operator: bool = False
    covenant: str | None = None  # slug
    roles: tuple[Role, ...] = ()

    @property
    def needs_two_step(self) -> bool:
        """Operators and the roles of ROLES_REQUIRING_TOTP set up two-step sign-in when they first sign in."""
        return self.is_operator or bool(ROLES_REQUIRING_TOTP.intersection(self.roles))


COVENANTS = (
    DemoCovenant(
        "textile", "Agreement on Sustainable Garments and Textile", "Garments and textile", ("nl", "en")
    ),
    DemoCovenant("natural-stone", "Natural Stone Covenant", "Natural stone", ("nl", "en")),
)

PEOPLE = (
    DemoPerson("operator@example.org", "Olga Operator", is_operator=True),
    DemoPerson(
        "secretariat@textile.example.org", "Sanne de Vries", covenant="textile", roles=(Role.secretariat,)
    ),
    DemoPerson(
        "sustainability@noordzee-fashion.example.org",
        "Bram Visser",
        covenant="textile",
        roles=(Role.company,),
    ),
    DemoPerson("csr@linnen-en-co.example.org", "Fatima El Amrani", covenant="textile", roles=(Role.company,)),
    DemoPerson("covenant@union.example.org", "Kees Bakker", covenant="textile", roles=(Role.party,)),
    DemoPerson("handler@textile.example.org", "Priya Raman", covenant="textile", roles=(Role.handler,)),
    DemoPerson("custodian@textile.example.org", "Joost Mulder", covenant="textile", roles=(Role.custodian,)),
    DemoPerson(
        "secretariat@natural-stone.example.org",
        "Lotte Jansen",
        covenant="natural-stone",
        roles=(Role.secretariat,),
    ),
)


async def _covenant(demo: DemoCovenant, operator_id: int) -> Covenant:
    existing = await Covenant.objects().where(Covenant.slug == demo.slug).first()
    if existing is not None:
        return existing
    # A checkout without the Dutch catalogue still gets a working demo, in the languages it does offer
    # (English, the source language, always is).
    languages = [code for code in demo.languages if code in available_locales()]
    return await operator.create_covenant(
        slug=demo.slug, name=demo.name, sector=demo.sector, languages=languages, actor=operator_id
    )


async def _account(settings: Settings, person: DemoPerson, actor: int | None) -> Account:
    existing = await Account.objects().where(Account.email == person.email).first()
    if existing is not None:
        return existing
    return await accounts.create_account(
        settings,
        email=person.email,
        name=person.name,
        password=DEMO_PASSWORD,
        is_operator=person.is_operator,
        actor=actor,
    )


async def load_demo_data(settings: Settings) -> list[DemoPerson]:
    """Create the demo covenants and people that do not exist yet; returns every demo person."""
    operator_person = next(p for p in PEOPLE if p.is_operator)
    operator_account = await _account(settings, operator_person, actor=None)
    covenants = {demo.slug: await _covenant(demo, operator_account.id) for demo in COVENANTS}
    for person in PEOPLE:
        if person.is_operator:
            continue
        account = await _account(settings, person, actor=operator_account.id)
        covenant = covenants[person.covenant or ""]
        for role in person.roles:
            # add_membership leaves a role that is already held as it is.
            await accounts.add_membership(covenant.id, account.id, role, actor=operator_account.id)
    return list(PEOPLE)
