"""Building real data through the services, and driving the app like a browser does."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from html import unescape

import httpx
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from piccolo.conf.apps import Finder
from piccolo.table import sort_table_classes

from imvo.platform import accounts, operator, twofactor
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, Covenant, Role

TABLES_IN_DELETE_ORDER = list(reversed(sort_table_classes(Finder().get_table_classes())))
PASSWORD = "correct horse battery"


@dataclass
class Person:
    account: Account
    email: str
    password: str = PASSWORD
    totp_seed: str | None = None


def totp_code(seed_b32: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app would show, `steps_ahead` 30-second steps from now."""
    moment = int(time.time()) + 30 * steps_ahead
    return TOTP(base64.b32decode(seed_b32), 6, SHA1(), 30).generate(moment).decode()


async def make_person(
    settings: Settings, email: str, *, name: str = "Test Person", operator: bool = False, totp: bool = False
) -> Person:
    account = await accounts.create_account(
        settings, email=email, name=name, password=PASSWORD, is_operator=operator
    )
    person = Person(account=account, email=email)
    if totp:
        enrolment = twofactor.start_enrolment(account)
        await twofactor.confirm_enrolment(settings, account, enrolment, totp_code(enrolment.seed_b32))
        person.totp_seed = enrolment.seed_b32
        person.account = await Account.objects().where(Account.id == account.id).first()  # type: ignore[assignment]
    return person


async def make_covenant(slug: str = "textile", name: str = "Textile covenant") -> Covenant:
    return await operator.create_covenant(
        slug=slug, name=name, sector="Garments and textile", languages=["en", "nl"], actor=None
    )


async def grant(person: Person, covenant: Covenant, role: Role) -> None:
    await accounts.add_membership(covenant.id, person.account.id, role, actor=None)


def csrf_headers(client: httpx.AsyncClient) -> dict[str, str]:
    token = client.cookies.get("imvo_csrf")
    return {"x-csrftoken": token} if token else {}


async def post_form(
    client: httpx.AsyncClient, url: str, data: dict[str, str] | None = None
) -> httpx.Response:
    """Submit a form the way a browser does: after loading a page, with the CSRF cookie's token."""
    if not client.cookies.get("imvo_csrf"):
        await client.get("/sign-in")
    return await client.post(url, data=data or {}, headers=csrf_headers(client))


async def sign_in(client: httpx.AsyncClient, person: Person, *, steps_ahead: int = 1) -> httpx.Response:
    """Sign in with password, and the TOTP code when the person has one; returns the last response."""
    response = await post_form(client, "/sign-in", {"email": person.email, "password": person.password})
    if response.headers.get("location") == "/sign-in/two-step":
        assert person.totp_seed is not None
        response = await post_form(
            client, "/sign-in/two-step", {"code": totp_code(person.totp_seed, steps_ahead)}
        )
    assert response.status_code == 303, response.text
    return response


def text_of(html: str) -> str:
    """The visible text of a page, for assertions that should not depend on markup."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())
