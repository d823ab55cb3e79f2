"""Operators open covenants and invite their first secretariat; nobody else can."""

from imvo.platform.tables import Covenant, Invitation, OutboxJob, Role
from tests.helpers import grant, make_covenant, make_person, post_form, sign_in, text_of

NEW_COVENANT = {
    "name": "Gold covenant",
    "slug": "gold",
    "sector": "Gold",
    "languages": "nl",
    "secretariat_email": "secretariat@gold.example",
    "invitation_locale": "nl",
}


async def test_an_operator_opens_a_covenant_and_invites_its_secretariat(client, settings):
    operator = await make_person(settings, "op@example.org", operator=True, totp=True)
    await sign_in(client, operator)

    response = await post_form(client, "/operator/covenants", NEW_COVENANT)

    assert response.status_code == 303
    covenant = await Covenant.objects().where(Covenant.slug == "gold").first()
    assert covenant is not None and covenant.languages == ["nl"]
    invitation = await Invitation.objects().where(Invitation.covenant == covenant.id).first()
    assert (invitation.email, invitation.role, invitation.locale) == (
        "secretariat@gold.example",
        "secretariat",
        "nl",
    )
    assert await OutboxJob.count() == 1
    assert "Gold covenant" in (await client.get("/operator")).text


async def test_a_covenant_with_a_bad_field_is_not_half_made(client, settings):
    operator = await make_person(settings, "op@example.org", operator=True, totp=True)
    await sign_in(client, operator)

    response = await post_form(client, "/operator/covenants", {**NEW_COVENANT, "secretariat_email": "nope"})

    assert response.status_code == 400
    assert "valid e-mail address" in text_of(response.text)
    assert not await Covenant.exists().where(Covenant.slug == "gold")
    assert await Invitation.count() == 0


async def test_short_names_are_checked_and_unique(client, settings):
    await make_covenant("gold")
    operator = await make_person(settings, "op@example.org", operator=True, totp=True)
    await sign_in(client, operator)
    taken = await post_form(client, "/operator/covenants", NEW_COVENANT)
    assert taken.status_code == 400
    assert "already uses" in text_of(taken.text)
    bad = await post_form(client, "/operator/covenants", {**NEW_COVENANT, "slug": "Gold Covenant!"})
    assert bad.status_code == 400
    assert await Covenant.count() == 1


async def test_a_secretariat_is_not_an_operator(client, settings):
    covenant = await make_covenant()
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    await grant(secretariat, covenant, Role.secretariat)
    await sign_in(client, secretariat)
    assert (await client.get("/operator")).status_code == 403
    assert (await post_form(client, "/operator/covenants", NEW_COVENANT)).status_code == 403
    assert not await Covenant.exists().where(Covenant.slug == "gold")
