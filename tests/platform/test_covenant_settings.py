"""A covenant's secretariat keeps its name, sector and languages up to date."""

import pytest

from imvo.platform.tables import AuditEntry, Covenant, Role
from tests.helpers import grant, make_covenant, make_person, post_form, sign_in, text_of


@pytest.fixture
async def covenant(settings):
    covenant = await make_covenant()
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    await grant(secretariat, covenant, Role.secretariat)
    company = await make_person(settings, "co@example.org")
    await grant(company, covenant, Role.company)
    return covenant, secretariat, company


async def test_the_secretariat_changes_name_sector_and_languages(client, covenant):
    covenant, secretariat, _ = covenant
    await sign_in(client, secretariat)
    form = await client.get(f"/c/{covenant.slug}/settings")
    assert form.status_code == 200

    response = await post_form(
        client,
        f"/c/{covenant.slug}/settings",
        {"name": "Agreement on Sustainable Garments", "sector": "Garments", "languages": "nl"},
    )

    assert response.status_code == 303
    changed = await Covenant.objects().where(Covenant.id == covenant.id).first()
    assert (changed.name, changed.sector, changed.languages, changed.slug) == (
        "Agreement on Sustainable Garments",
        "Garments",
        ["nl"],
        covenant.slug,
    )
    assert await AuditEntry.exists().where(AuditEntry.action == "covenant.updated")
    assert "Agreement on Sustainable Garments" in (await client.get(f"/c/{covenant.slug}")).text


async def test_bad_details_are_refused_and_change_nothing(client, covenant):
    covenant, secretariat, _ = covenant
    await sign_in(client, secretariat)
    for form, message in (
        ({"name": "", "sector": "Garments", "languages": "nl"}, "Enter the covenant's name."),
        ({"name": "X", "sector": "Garments"}, "Choose at least one of the offered languages."),
        (
            {"name": "X", "sector": "Garments", "languages": "xx"},
            "Choose at least one of the offered languages.",
        ),
    ):
        response = await post_form(client, f"/c/{covenant.slug}/settings", form)
        assert response.status_code == 400
        assert message in text_of(response.text)
    unchanged = await Covenant.objects().where(Covenant.id == covenant.id).first()
    assert unchanged.name == covenant.name
    assert not await AuditEntry.exists().where(AuditEntry.action == "covenant.updated")


async def test_other_roles_cannot_change_the_covenant(client, covenant):
    covenant, _, company = covenant
    await sign_in(client, company)
    assert (await client.get(f"/c/{covenant.slug}/settings")).status_code == 403
    response = await post_form(
        client, f"/c/{covenant.slug}/settings", {"name": "Mine", "sector": "x", "languages": "en"}
    )
    assert response.status_code == 403
    assert (await Covenant.objects().where(Covenant.id == covenant.id).first()).name == covenant.name


async def test_the_secretariat_changes_the_covenant_through_the_api(client, covenant):
    from imvo.platform import tokens

    covenant, secretariat, company = covenant
    _, secret = await tokens.create_token(secretariat.account.id, covenant.slug, "ci", 30)
    _, company_secret = await tokens.create_token(company.account.id, covenant.slug, "ci", 30)
    body = {"name": "Renamed", "sector": "Garments", "languages": ["nl", "en"]}

    refused = await client.patch(
        f"/api/v1/covenants/{covenant.slug}", json=body, headers={"authorization": f"Bearer {company_secret}"}
    )
    bad = await client.patch(
        f"/api/v1/covenants/{covenant.slug}",
        json={**body, "languages": []},
        headers={"authorization": f"Bearer {secret}"},
    )
    done = await client.patch(
        f"/api/v1/covenants/{covenant.slug}", json=body, headers={"authorization": f"Bearer {secret}"}
    )

    assert refused.status_code == 403
    assert bad.status_code == 400 and bad.json()["field"] == "languages"
    assert done.status_code == 200
    assert done.json()["languages"] == ["en", "nl"]
    assert (await Covenant.objects().where(Covenant.id == covenant.id).first()).name == "Renamed"
