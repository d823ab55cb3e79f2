"""Tenancy: a covenant's pages and data exist only for people with a role in it."""

import pytest

from imvo.platform.tables import Role
from tests.helpers import grant, make_covenant, make_person, post_form, sign_in


@pytest.fixture
async def two_covenants(settings):
    textile = await make_covenant("textile", "Textile covenant")
    stone = await make_covenant("natural-stone", "Natural stone covenant")
    company = await make_person(settings, "co@example.org")
    await grant(company, textile, Role.company)
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    await grant(secretariat, textile, Role.secretariat)
    return textile, stone, company, secretariat


async def test_a_member_sees_their_covenant(client, two_covenants):
    textile, _, company, _ = two_covenants
    await sign_in(client, company)
    response = await client.get(f"/c/{textile.slug}")
    assert response.status_code == 200
    assert textile.name in response.text


async def test_company_cannot_see_another_covenant_it_is_not_in(client, two_covenants):
    _, stone, company, _ = two_covenants
    await sign_in(client, company)
    response = await client.get(f"/c/{stone.slug}")
    assert response.status_code == 404
    assert stone.name not in response.text


async def test_a_foreign_covenant_and_a_missing_one_look_the_same(client, two_covenants):
    _, stone, company, _ = two_covenants
    await sign_in(client, company)
    foreign = await client.get(f"/c/{stone.slug}/people")
    missing = await client.get("/c/does-not-exist/people")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text == missing.text


async def test_secretariat_pages_are_forbidden_to_other_roles_of_the_same_covenant(client, two_covenants):
    textile, _, company, _ = two_covenants
    await sign_in(client, company)
    assert (await client.get(f"/c/{textile.slug}/people")).status_code == 403
    assert (await client.get(f"/c/{textile.slug}/audit")).status_code == 403


async def test_the_covenant_menu_follows_the_roles(client, other_client, two_covenants):
    textile, _, company, secretariat = two_covenants
    await sign_in(client, company)
    await sign_in(other_client, secretariat)
    company_page = (await client.get(f"/c/{textile.slug}")).text
    secretariat_page = (await other_client.get(f"/c/{textile.slug}")).text
    assert f'href="/c/{textile.slug}/people"' not in company_page
    assert f'href="/c/{textile.slug}/people"' in secretariat_page


async def test_a_secretariat_cannot_act_on_a_membership_of_another_covenant(client, settings, two_covenants):
    from imvo.platform.tables import Membership

    textile, stone, _, secretariat = two_covenants
    outsider = await make_person(settings, "out@example.org")
    await grant(outsider, stone, Role.company)
    foreign = await Membership.objects().where(Membership.covenant == stone.id).first()
    await sign_in(client, secretariat)

    asked = await post_form(client, f"/c/{textile.slug}/people/{foreign.id}/revoke")
    confirmed = await post_form(client, f"/c/{textile.slug}/people/{foreign.id}/revoke", {"confirm": "yes"})

    assert asked.status_code == confirmed.status_code == 404
    assert "out@example.org" not in asked.text
    assert await Membership.exists().where(Membership.id == foreign.id)


async def test_start_page_lists_only_own_covenants(client, two_covenants):
    textile, stone, company, _ = two_covenants
    await sign_in(client, company)
    page = (await client.get("/")).text
    assert textile.name in page
    assert stone.name not in page


async def test_signed_out_visitors_are_sent_to_sign_in_from_covenant_pages(client, two_covenants):
    textile, *_ = two_covenants
    response = await client.get(f"/c/{textile.slug}")
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].startswith("/sign-in")
