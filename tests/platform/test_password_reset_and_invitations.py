"""Password resets and invitations: links that work once, expire, and reveal nothing."""

from datetime import UTC, datetime, timedelta

from imvo.platform import accounts
from imvo.platform.tables import Account, Invitation, Membership, OutboxJob, PasswordReset, Role
from imvo.platform.tenancy import tenant_for
from tests.helpers import PASSWORD, Person, grant, make_covenant, make_person, post_form, sign_in, text_of


async def _reset_link(settings, email: str) -> str:
    reset = await PasswordReset.objects().order_by(PasswordReset.id, ascending=False).first()
    assert reset is not None
    return f"/password/reset/{accounts.link_token(settings, 'password-reset', reset.id, reset.salt)}"


async def test_forgotten_password_mails_a_link_that_sets_a_new_password(client, settings):
    person = await make_person(settings, "ana@example.org")
    response = await post_form(client, "/password/forgot", {"email": "ana@example.org"})
    assert response.status_code == 200
    jobs = await OutboxJob.select(OutboxJob.name, OutboxJob.payload).output(load_json=True)
    assert [(j["name"], j["payload"]["kind"]) for j in jobs] == [("send_mail", "password_reset")]

    link = await _reset_link(settings, person.email)
    assert (await client.get(link)).status_code == 200
    new = "brand new password"
    done = await post_form(client, link, {"password": new, "password_again": new})
    assert done.status_code == 200

    person.password = new
    await sign_in(client, person)


async def test_forgotten_password_for_an_unknown_address_looks_the_same_and_sends_nothing(client, settings):
    await make_person(settings, "ana@example.org")
    known = await post_form(client, "/password/forgot", {"email": "ana@example.org"})
    unknown = await post_form(client, "/password/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert text_of(known.text) == text_of(unknown.text)
    assert await OutboxJob.count() == 1


async def test_a_reset_link_works_once(client, settings):
    await make_person(settings, "ana@example.org")
    await accounts.request_password_reset("ana@example.org")
    link = await _reset_link(settings, "ana@example.org")
    first = await post_form(
        client, link, {"password": "first new password", "password_again": "first new password"}
    )
    assert first.status_code == 200
    again = await post_form(
        client, link, {"password": "second password!", "password_again": "second password!"}
    )
    assert again.status_code == 400
    assert "already used" in text_of(again.text)


async def test_an_expired_or_forged_reset_link_is_refused(client, settings):
    await make_person(settings, "ana@example.org")
    await accounts.request_password_reset("ana@example.org")
    link = await _reset_link(settings, "ana@example.org")

    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert (await client.get(forged)).status_code == 400
    assert (await client.get("/password/reset/not-a-token")).status_code == 400

    await PasswordReset.update(
        {PasswordReset.expires_at: datetime.now(UTC) - timedelta(minutes=1)}, force=True
    )
    response = await client.get(link)
    assert response.status_code == 400
    assert "expired" in text_of(response.text)


async def test_a_reset_ends_sessions_signed_in_with_the_old_password(client, other_client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(other_client, person)
    await accounts.request_password_reset(person.email)
    link = await _reset_link(settings, person.email)
    await post_form(client, link, {"password": "brand new password", "password_again": "brand new password"})
    assert (await other_client.get("/account")).status_code in (302, 303, 307)


async def test_a_weak_new_password_is_refused_and_the_link_still_works(client, settings):
    await make_person(settings, "ana@example.org")
    await accounts.request_password_reset("ana@example.org")
    link = await _reset_link(settings, "ana@example.org")
    weak = await post_form(client, link, {"password": "short", "password_again": "short"})
    assert weak.status_code == 400
    assert "at least 10 characters" in text_of(weak.text)
    assert (await client.get(link)).status_code == 200


async def _invite(settings, email: str, role: Role = Role.company):
    secretariat = await make_person(settings, "sec@example.org")
    covenant = await make_covenant()
    await grant(secretariat, covenant, Role.secretariat)
    tenant = await tenant_for(secretariat.account.id, covenant.slug)
    invitation = await accounts.invite(settings, tenant, email=email, role=role.value, locale="en")
    token = accounts.link_token(settings, "invitation", invitation.id, invitation.salt)
    return covenant, f"/invitations/{token}"


async def test_an_invited_person_creates_an_account_and_lands_in_the_covenant(client, settings):
    covenant, link = await _invite(settings, "new@example.org")
    page = await client.get(link)
    assert page.status_code == 200
    assert covenant.name in page.text

    response = await post_form(
        client, link, {"name": "New Person", "password": PASSWORD, "password_again": PASSWORD}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{covenant.slug}"
    assert (await client.get(f"/c/{covenant.slug}")).status_code == 200
    account = await Account.objects().where(Account.email == "new@example.org").first()
    assert account is not None
    assert await Membership.exists().where(
        (Membership.account == account.id) & (Membership.role == Role.company.value)
    )


async def test_an_invitation_is_accepted_once(client, other_client, settings):
    _, link = await _invite(settings, "new@example.org")
    await post_form(client, link, {"name": "New", "password": PASSWORD, "password_again": PASSWORD})
    again = await post_form(
        other_client, link, {"name": "Other", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert again.status_code == 400
    assert await Account.count().where(Account.email == "new@example.org") == 1


async def test_an_existing_account_accepts_only_when_signed_in_as_itself(client, other_client, settings):
    existing = await make_person(settings, "known@example.org")
    stranger = await make_person(settings, "stranger@example.org")
    covenant, link = await _invite(settings, "known@example.org", Role.party)

    await sign_in(other_client, stranger)
    refused = await post_form(other_client, link, {})
    assert refused.status_code == 400
    assert not await Membership.exists().where(Membership.account == stranger.account.id)

    await sign_in(client, existing)
    accepted = await post_form(client, link, {})
    assert accepted.status_code == 303
    assert await Membership.exists().where(
        (Membership.account == existing.account.id) & (Membership.covenant == covenant.id)
    )


async def test_invitation_with_a_mistake_in_the_form_changes_nothing(client, settings):
    _, link = await _invite(settings, "new@example.org")
    response = await post_form(client, link, {"name": "", "password": PASSWORD, "password_again": PASSWORD})
    assert response.status_code == 400
    assert "Enter your name" in text_of(response.text)
    assert not await Account.exists().where(Account.email == "new@example.org")
    assert await Invitation.count().where(Invitation.accepted_at.is_null()) == 1


async def test_secretariat_invites_through_the_people_page(client, settings):
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    covenant = await make_covenant()
    await grant(secretariat, covenant, Role.secretariat)
    await sign_in(client, secretariat)

    response = await post_form(
        client,
        f"/c/{covenant.slug}/people/invite",
        {"email": "union@example.org", "role": "party", "locale": "en"},
    )
    assert response.status_code == 303
    people = await client.get(f"/c/{covenant.slug}/people")
    assert "union@example.org" in people.text

    bad = await post_form(
        client, f"/c/{covenant.slug}/people/invite", {"email": "not an address", "role": "party"}
    )
    assert bad.status_code == 400
    assert "valid e-mail address" in text_of(bad.text)
    assert await Invitation.count() == 1


async def test_people_without_the_secretariat_role_cannot_invite(client, settings):
    company = await make_person(settings, "co@example.org")
    covenant = await make_covenant()
    await grant(company, covenant, Role.company)
    await sign_in(client, company)
    response = await post_form(
        client, f"/c/{covenant.slug}/people/invite", {"email": "x@example.org", "role": "secretariat"}
    )
    assert response.status_code == 403
    assert await Invitation.count() == 0


async def test_the_last_secretariat_role_cannot_be_removed(client, settings):
    secretariat: Person = await make_person(settings, "sec@example.org", totp=True)
    covenant = await make_covenant()
    await grant(secretariat, covenant, Role.secretariat)
    await sign_in(client, secretariat)
    membership = await Membership.objects().where(Membership.account == secretariat.account.id).first()
    response = await post_form(
        client, f"/c/{covenant.slug}/people/{membership.id}/revoke", {"confirm": "yes"}
    )
    assert response.status_code == 400
    assert await Membership.exists().where(Membership.id == membership.id)


async def test_removing_a_role_asks_first_then_removes_it(client, settings):
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    company = await make_person(settings, "co@example.org", name="Bram Visser")
    covenant = await make_covenant()
    await grant(secretariat, covenant, Role.secretariat)
    await grant(company, covenant, Role.company)
    await sign_in(client, secretariat)
    membership = await Membership.objects().where(Membership.account == company.account.id).first()
    url = f"/c/{covenant.slug}/people/{membership.id}/revoke"

    asked = await post_form(client, url)
    assert asked.status_code == 200
    assert "Bram Visser" in asked.text
    assert await Membership.exists().where(Membership.id == membership.id)

    done = await post_form(client, url, {"confirm": "yes"})
    assert done.status_code == 303
    assert not await Membership.exists().where(Membership.id == membership.id)


async def test_a_withdrawn_invitation_link_stops_working(client, other_client, settings):
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    covenant = await make_covenant()
    await grant(secretariat, covenant, Role.secretariat)
    tenant = await tenant_for(secretariat.account.id, covenant.slug)
    invitation = await accounts.invite(
        settings, tenant, email="wrong@example.org", role="company", locale="en"
    )
    link = f"/invitations/{accounts.link_token(settings, 'invitation', invitation.id, invitation.salt)}"
    await sign_in(client, secretariat)
    assert "wrong@example.org" in (await client.get(f"/c/{covenant.slug}/people")).text

    response = await post_form(client, f"/c/{covenant.slug}/invitations/{invitation.id}/withdraw")

    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{covenant.slug}/people"
    assert await Invitation.count() == 0
    assert (await other_client.get(link)).status_code == 400
    assert "Invitation withdrawn" in (await client.get(f"/c/{covenant.slug}/audit")).text
    again = await post_form(client, f"/c/{covenant.slug}/invitations/{invitation.id}/withdraw")
    assert again.status_code == 404


async def test_invitations_through_the_api(client, settings):
    from imvo.platform import tokens

    secretariat = await make_person(settings, "sec@example.org", totp=True)
    covenant = await make_covenant()
    other = await make_covenant("natural-stone")
    await grant(secretariat, covenant, Role.secretariat)
    await grant(secretariat, other, Role.secretariat)
    _, secret = await tokens.create_token(secretariat.account.id, covenant.slug, "ci", 30)
    headers = {"authorization": f"Bearer {secret}"}
    foreign = await accounts.invite(
        settings,
        await tenant_for(secretariat.account.id, other.slug),
        email="x@example.org",
        role="party",
        locale="en",
    )

    made = await client.post(
        f"/api/v1/covenants/{covenant.slug}/invitations",
        json={"email": "u@example.org", "role": "party"},
        headers=headers,
    )
    listed = await client.get(f"/api/v1/covenants/{covenant.slug}/invitations", headers=headers)
    assert [i["email"] for i in listed.json()] == ["u@example.org"]

    # An invitation of another covenant is not found, even for a secretariat of both, with this token.
    assert (
        await client.delete(f"/api/v1/covenants/{covenant.slug}/invitations/{foreign.id}", headers=headers)
    ).status_code == 404
    withdrawn = await client.delete(
        f"/api/v1/covenants/{covenant.slug}/invitations/{made.json()['id']}", headers=headers
    )
    assert withdrawn.status_code == 204
    assert await Invitation.count() == 1  # the other covenant's
