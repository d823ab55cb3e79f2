"""Personal API tokens: shown once, stored hashed, bound to one covenant and its holder's roles."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from imvo.platform import tokens
from imvo.platform.crypto import token_hash
from imvo.platform.tables import ApiToken, Invitation, Membership, Role
from tests.helpers import grant, make_covenant, make_person, post_form, sign_in


@pytest.fixture
async def secretariat(settings):
    textile = await make_covenant("textile", "Textile covenant")
    stone = await make_covenant("natural-stone", "Natural stone covenant")
    person = await make_person(settings, "sec@example.org", totp=True)
    await grant(person, textile, Role.secretariat)
    await grant(person, stone, Role.secretariat)
    return person, textile, stone


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(client, secretariat):
    person, textile, _ = secretariat
    await sign_in(client, person)

    response = await post_form(
        client, "/account/tokens", {"name": "export", "covenant": textile.slug, "days": "30"}
    )

    assert response.status_code == 200
    secret = response.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("imvo_")
    stored = await ApiToken.select().first()
    assert stored["token_hash"] == token_hash(secret)
    assert secret not in str(stored)
    assert secret not in (await client.get("/account/tokens")).text


async def test_a_token_reads_the_api_of_its_covenant(client, secretariat):
    person, textile, _ = secretariat
    _, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)

    me = await client.get("/api/v1/me", headers=bearer(secret))
    covenant = await client.get(f"/api/v1/covenants/{textile.slug}", headers=bearer(secret))

    assert me.status_code == 200
    assert me.json()["memberships"] == [{"covenant": "textile", "role": "secretariat"}]
    assert covenant.json()["your_roles"] == ["secretariat"]


async def test_a_token_is_blind_to_the_holders_other_covenants(client, secretariat):
    person, textile, stone = secretariat
    _, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)

    response = await client.get(f"/api/v1/covenants/{stone.slug}", headers=bearer(secret))
    listed = await client.get("/api/v1/covenants", headers=bearer(secret))

    assert response.status_code == 404
    assert [c["slug"] for c in listed.json()] == ["textile"]


async def test_a_token_loses_what_its_holder_loses(client, secretariat):
    person, textile, _ = secretariat
    _, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)
    assert (
        await client.get(f"/api/v1/covenants/{textile.slug}/people", headers=bearer(secret))
    ).status_code == 200

    await Membership.delete().where(Membership.covenant == textile.id)

    assert (
        await client.get(f"/api/v1/covenants/{textile.slug}/people", headers=bearer(secret))
    ).status_code == 404


async def test_revoked_and_expired_tokens_are_refused(client, secretariat):
    person, textile, _ = secretariat
    revoked, revoked_secret = await tokens.create_token(person.account.id, textile.slug, "old", 30)
    await tokens.revoke_token(person.account.id, revoked.id)
    expired, expired_secret = await tokens.create_token(person.account.id, textile.slug, "older", 30)
    await ApiToken.update({ApiToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        ApiToken.id == expired.id
    )

    for secret in (revoked_secret, expired_secret, "imvo_made-up"):
        response = await client.get("/api/v1/me", headers=bearer(secret))
        assert response.status_code == 401
        assert response.json()["detail"]


async def test_someone_else_cannot_revoke_my_token(client, settings, secretariat):
    person, textile, _ = secretariat
    token, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)
    other = await make_person(settings, "other@example.org")
    await grant(other, textile, Role.company)
    await sign_in(client, other)

    response = await post_form(client, f"/account/tokens/{token.id}/revoke")

    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers=bearer(secret))).status_code == 200


async def test_a_token_can_write_through_the_api_without_a_csrf_token(client, secretariat):
    person, textile, _ = secretariat
    _, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)

    response = await client.post(
        f"/api/v1/covenants/{textile.slug}/invitations",
        json={"email": "union@example.org", "role": "party", "locale": "en"},
        headers=bearer(secret),
    )

    assert response.status_code == 201, response.text
    assert response.json()["email"] == "union@example.org"
    assert await Invitation.count() == 1


async def test_the_api_refuses_bad_input_with_a_message_and_writes_nothing(client, secretariat):
    person, textile, _ = secretariat
    _, secret = await tokens.create_token(person.account.id, textile.slug, "ci", 30)

    for body in ({"email": "nope", "role": "party"}, {"email": "a@example.org", "role": "king"}, {"role": 3}):
        response = await client.post(
            f"/api/v1/covenants/{textile.slug}/invitations", json=body, headers=bearer(secret)
        )
        assert response.status_code == 400, body
        assert response.json()["detail"]
    assert await Invitation.count() == 0


async def test_cookie_sessions_still_need_csrf_on_the_api(client, secretariat):
    person, textile, _ = secretariat
    await sign_in(client, person)
    response = await client.post(
        f"/api/v1/covenants/{textile.slug}/invitations", json={"email": "u@example.org", "role": "party"}
    )
    assert response.status_code == 403
    assert await Invitation.count() == 0


async def test_each_token_has_its_own_rate_limit(app, client, settings, secretariat):
    person, textile, _ = secretariat
    _, busy = await tokens.create_token(person.account.id, textile.slug, "busy", 30)
    _, calm = await tokens.create_token(person.account.id, textile.slug, "calm", 30)
    app.state.settings = settings.with_(api_requests_per_minute=5)

    # The limit counts per clock minute: a run that crosses into the next minute is repeated in a fresh one.
    for _ in range(2):
        minute = int(time.time() // 60)
        statuses = [(await client.get("/api/v1/me", headers=bearer(busy))).status_code for _ in range(6)]
        if int(time.time() // 60) == minute:
            break
        await asyncio.sleep(60 - time.time() % 60)

    assert statuses == [200] * 5 + [429]
    assert (await client.get("/api/v1/me", headers=bearer(calm))).status_code == 200


async def test_tokens_only_for_covenants_the_person_belongs_to(client, settings, secretariat):
    _, textile, _ = secretariat
    outsider = await make_person(settings, "out@example.org")
    await sign_in(client, outsider)
    response = await post_form(
        client, "/account/tokens", {"name": "x", "covenant": textile.slug, "days": "30"}
    )
    assert response.status_code == 400
    assert await ApiToken.count() == 0


async def test_token_lifetime_is_bounded(client, secretariat):
    person, textile, _ = secretariat
    await sign_in(client, person)
    for days in ("0", "367", "many"):
        response = await post_form(
            client, "/account/tokens", {"name": "x", "covenant": textile.slug, "days": days}
        )
        assert response.status_code == 400, days
    assert await ApiToken.count() == 0
