"""Signing in and out: passwords, sessions, two-step sign-in, rate limits."""

import pytest

from imvo.platform.tables import Account, Role
from tests.helpers import (
    grant,
    make_covenant,
    make_person,
    post_form,
    sign_in,
    text_of,
    totp_code,
)


async def test_person_signs_in_with_password_and_sees_their_covenants(client, settings):
    person = await make_person(settings, "ana@example.org")
    covenant = await make_covenant()
    await grant(person, covenant, Role.company)

    await sign_in(client, person)
    page = await client.get("/")

    assert covenant.name in page.text


async def test_wrong_password_is_refused_with_a_message_and_no_session(client, settings):
    person = await make_person(settings, "ana@example.org")

    response = await post_form(client, "/sign-in", {"email": person.email, "password": "wrong password!"})

    assert response.status_code == 400
    assert "not correct" in text_of(response.text)
    assert (await client.get("/account")).status_code in (302, 303, 307)


async def test_unknown_address_gets_the_same_answer_as_a_wrong_password(client, settings):
    await make_person(settings, "ana@example.org")
    known = await post_form(client, "/sign-in", {"email": "ana@example.org", "password": "wrong password!"})
    unknown = await post_form(
        client, "/sign-in", {"email": "nobody@example.org", "password": "wrong password!"}
    )
    assert known.status_code == unknown.status_code == 400
    assert text_of(known.text).replace("ana@example.org", "") == text_of(unknown.text).replace(
        "nobody@example.org", ""
    )


async def test_email_is_matched_without_regard_to_case_or_spaces(client, settings):
    person = await make_person(settings, "ana@example.org")
    response = await post_form(
        client, "/sign-in", {"email": "  Ana@Example.ORG ", "password": person.password}
    )
    assert response.status_code == 303


async def test_sign_in_replaces_a_planted_session_id(client, settings):
    """Session fixation: an id chosen before sign-in must not carry the signed-in session."""
    person = await make_person(settings, "ana@example.org")
    await client.get("/sign-in")
    plant_cookie(client, "imvo_session", "attacker-chosen-id")

    response = await sign_in(client, person)

    assert "attacker-chosen-id" not in response.headers.get("set-cookie", "")
    assert client.cookies.get("imvo_session") not in (None, "attacker-chosen-id")


async def test_sign_out_ends_the_session(client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    old_session = client.cookies.get("imvo_session")

    response = await post_form(client, "/sign-out")
    assert response.status_code == 303

    # Replaying the old cookie after sign-out gets nothing.
    plant_cookie(client, "imvo_session", old_session)
    assert (await client.get("/account")).status_code in (302, 303, 307)


async def test_sign_in_only_returns_to_paths_on_this_site(client, settings):
    person = await make_person(settings, "ana@example.org")
    await client.get("/sign-in")
    response = await post_form(
        client, "/sign-in", {"email": person.email, "password": person.password, "next": "//evil.example/x"}
    )
    assert response.headers["location"] == "/"


async def test_pages_that_need_a_sign_in_redirect_there_and_come_back(client, settings):
    response = await client.get("/account")
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "/sign-in?next=/account"


async def test_form_posts_without_csrf_token_are_refused(client, settings):
    person = await make_person(settings, "ana@example.org")
    await client.get("/sign-in")
    response = await client.post("/sign-in", data={"email": person.email, "password": person.password})
    assert response.status_code == 403
    assert "imvo_session" not in response.headers.get("set-cookie", "")


async def test_repeated_wrong_passwords_are_rate_limited_even_with_the_right_one_after(client, settings):
    person = await make_person(settings, "ana@example.org")
    for _ in range(settings.login_attempts_per_15_min):
        await post_form(client, "/sign-in", {"email": person.email, "password": "wrong password!"})

    response = await post_form(client, "/sign-in", {"email": person.email, "password": person.password})

    assert response.status_code == 429
    assert "Too many attempts" in text_of(response.text)


async def test_two_step_sign_in_needs_the_code_after_the_password(client, settings):
    person = await make_person(settings, "sec@example.org", totp=True)
    response = await post_form(client, "/sign-in", {"email": person.email, "password": person.password})
    assert response.headers["location"] == "/sign-in/two-step"
    # Password alone is not a sign-in.
    assert (await client.get("/account")).status_code in (302, 303, 307)

    wrong = await post_form(client, "/sign-in/two-step", {"code": "000000"})
    assert wrong.status_code == 400

    right = await post_form(client, "/sign-in/two-step", {"code": totp_code(person.totp_seed, 1)})
    assert right.status_code == 303
    assert (await client.get("/account")).status_code == 200


async def test_a_totp_code_cannot_be_used_twice(client, other_client, settings):
    person = await make_person(settings, "sec@example.org", totp=True)
    code = totp_code(person.totp_seed, 1)
    for browser in (client, other_client):
        await post_form(browser, "/sign-in", {"email": person.email, "password": person.password})
    assert (await post_form(client, "/sign-in/two-step", {"code": code})).status_code == 303
    assert (await post_form(other_client, "/sign-in/two-step", {"code": code})).status_code == 400


async def test_a_recovery_code_signs_in_once(client, other_client, settings):
    from imvo.platform import twofactor

    person = await make_person(settings, "sec@example.org", totp=True)
    codes = await twofactor.regenerate_recovery_codes(person.account)

    for browser, expected in ((client, 303), (other_client, 400)):
        await post_form(browser, "/sign-in", {"email": person.email, "password": person.password})
        response = await post_form(browser, "/sign-in/two-step", {"code": codes[0].upper()})
        assert response.status_code == expected


async def test_roles_that_see_cases_must_set_up_two_step_sign_in_first(client, settings):
    person = await make_person(settings, "handler@example.org")
    covenant = await make_covenant()
    await grant(person, covenant, Role.handler)

    await sign_in(client, person)

    for path in ("/", "/account", f"/c/{covenant.slug}", "/api/v1/me"):
        response = await client.get(path)
        if path.startswith("/api/"):
            assert response.status_code == 403, path
        else:
            assert response.status_code in (302, 303, 307), path
            assert response.headers["location"] == "/account/two-factor", path
    enrol_page = await client.get("/account/two-factor")
    assert enrol_page.status_code == 200
    assert "<svg" in enrol_page.text  # the QR code, drawn on the server

    account = await Account.objects().where(Account.id == person.account.id).first()
    seed = client_session_seed(enrol_page.text)
    confirmed = await post_form(client, "/account/two-factor", {"code": totp_code(seed)})
    assert confirmed.status_code == 200
    assert 'id="recovery-codes"' in confirmed.text
    assert account is not None
    assert (await client.get(f"/c/{covenant.slug}")).status_code == 200


async def test_operators_must_set_up_two_step_sign_in_too(client, settings):
    person = await make_person(settings, "op@example.org", operator=True)
    await sign_in(client, person)
    response = await client.get("/operator")
    assert response.headers.get("location") == "/account/two-factor"


async def test_changing_the_password_ends_other_sessions(client, other_client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    await sign_in(other_client, person)

    new_password = "a new long password"
    response = await post_form(
        client,
        "/account/password",
        {
            "current_password": person.password,
            "new_password": new_password,
            "new_password_again": new_password,
        },
    )

    assert response.status_code == 200
    assert (await client.get("/account")).status_code == 200
    assert (await other_client.get("/account")).status_code in (302, 303, 307)


def plant_cookie(client, name: str, value: str) -> None:
    """Set a cookie as if the browser had it before (httpx files cookies of a dotless host under .local)."""
    client.cookies.delete(name)
    client.cookies.set(name, value, domain="testserver.local", path="/")


def client_session_seed(html: str) -> str:
    """The TOTP key printed on the enrolment page."""
    import re

    found = re.search(r'id="totp-key">([A-Z2-7=]+)<', html)
    assert found, "the enrolment page shows the key for typing in"
    return found.group(1)


@pytest.mark.redis
async def test_sessions_live_in_redis_when_it_is_configured(client, settings):
    from redis.asyncio import Redis

    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    session_id = client.cookies.get("imvo_session")

    redis = Redis.from_url(settings.redis_url)
    try:
        assert await redis.exists(f"imvo:session:{session_id}")
    finally:
        await redis.aclose()


async def test_people_choose_the_language_of_their_pages_and_mails(client, settings):
    person = await make_person(settings, "ana@example.org")
    await sign_in(client, person)
    response = await post_form(client, "/account/profile", {"name": "Ana", "locale": "nl"})
    assert response.status_code == 303
    account = await Account.objects().where(Account.id == person.account.id).first()
    assert account.locale == "nl"
    bad = await post_form(client, "/account/profile", {"name": "Ana", "locale": "xx"})
    assert bad.status_code == 400


async def test_on_a_new_device_pages_take_the_accounts_language(client, other_client, settings):
    person = await make_person(settings, "ana@example.org")
    await Account.update({Account.locale: "nl"}).where(Account.id == person.account.id)
    await sign_in(client, person)
    assert 'lang="nl"' in (await client.get("/account")).text

    # A browser that already chose a language keeps it.
    await other_client.get("/sign-in?lang=en")
    await sign_in(other_client, person)
    assert 'lang="en"' in (await other_client.get("/account")).text


@pytest.mark.redis
async def test_rate_limit_counters_in_redis_hold_no_address(client, settings):
    from redis.asyncio import Redis

    await post_form(client, "/sign-in", {"email": "ana@example.org", "password": "wrong password!"})
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [key.decode() async for key in redis.scan_iter("imvo:rate:*")]
    finally:
        await redis.aclose()
    assert keys
    assert not [key for key in keys if "ana" in key or "example" in key or "127.0.0.1" in key]
