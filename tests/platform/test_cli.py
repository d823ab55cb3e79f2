"""The `imvo` command: migrations, demo data, covenants and accounts from the shell, audit verification."""

import io
import re
import sys

import pytest

from imvo.platform import accounts, audit
from imvo.platform.cli import main, run
from imvo.platform.demo import DEMO_PASSWORD, PEOPLE
from imvo.platform.i18n import available_locales
from imvo.platform.tables import (
    Account,
    AuditEntry,
    Covenant,
    Invitation,
    Membership,
    OutboxJob,
    PasswordReset,
    Role,
)
from tests.helpers import Person, make_person, post_form, sign_in


async def _counts() -> dict[str, int]:
    return {
        table.__name__: await table.count()
        for table in (Account, Covenant, Membership, AuditEntry, OutboxJob)
    }


async def _chain_of(slug: str) -> str:
    covenant = await Covenant.objects().where(Covenant.slug == slug).first()
    assert covenant is not None
    return audit.covenant_chain(covenant.id)


async def _demo_person(email: str) -> Person:
    account = await Account.objects().where(Account.email == email).first()
    assert account is not None
    return Person(account=account, email=email, password=DEMO_PASSWORD)


async def test_migrate_reports_a_database_that_is_up_to_date(settings, capsys):
    assert await run(["migrate"], settings) == 0
    assert "up to date" in capsys.readouterr().out


async def test_demo_makes_two_covenants_and_a_login_for_every_role(settings, capsys):
    assert await run(["demo"], settings) == 0

    covenants = {c.slug: c for c in await Covenant.objects()}
    assert set(covenants) == {"textile", "natural-stone"}
    assert covenants["textile"].languages == [code for code in ("nl", "en") if code in available_locales()]
    roles = await Membership.select(Membership.role).where(Membership.covenant == covenants["textile"].id)
    assert sorted(r["role"] for r in roles) == sorted(
        ["secretariat", "company", "company", "party", "handler", "custodian"]
    )
    stone_roles = await Membership.select(Membership.role).where(
        Membership.covenant == covenants["natural-stone"].id
    )
    assert [r["role"] for r in stone_roles] == ["secretariat"]
    operators = await Account.select(Account.email).where(Account.is_operator == True)  # noqa: E712
    assert [o["email"] for o in operators] == ["operator@example.org"]

    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out
    assert all(person.email in out for person in PEOPLE)
    assert "two-step" in out
    assert f"{settings.base_url}/sign-in" in out


async def test_demo_run_twice_neither_fails_nor_duplicates(settings):
    assert await run(["demo"], settings) == 0
    first = await _counts()
    assert await run(["demo"], settings) == 0
    assert await _counts() == first
    assert first["Account"] == len(PEOPLE)


async def test_a_demo_company_user_signs_in_with_the_demo_password(client, settings):
    await run(["demo"], settings)
    await sign_in(client, await _demo_person("csr@linnen-en-co.example.org"))
    assert (await client.get("/c/textile")).status_code == 200
    assert (await client.get("/c/natural-stone")).status_code == 404


async def test_the_demo_operator_is_asked_to_set_up_two_step_sign_in(client, settings):
    await run(["demo"], settings)
    await sign_in(client, await _demo_person("operator@example.org"))
    response = await client.get("/operator")
    assert response.status_code in {302, 303}
    assert response.headers["location"] == "/account/two-factor"


async def test_create_covenant_opens_it_and_queues_the_secretariats_invitation(settings, capsys):
    operator = await make_person(settings, "ops@example.org", operator=True)
    code = await run(
        [
            "create-covenant",
            "--slug=gold",
            "--name=Gold covenant",
            "--sector=Gold",
            "--languages=en",
            "--secretariat-email=Secretariat@Gold.example.org",
            f"--operator-email={operator.email}",
        ],
        settings,
    )
    assert code == 0
    covenant = await Covenant.objects().where(Covenant.slug == "gold").first()
    assert covenant is not None and covenant.name == "Gold covenant" and covenant.languages == ["en"]
    invitation = await Invitation.objects().where(Invitation.covenant == covenant.id).first()
    assert invitation is not None
    assert (invitation.email, invitation.role) == ("secretariat@gold.example.org", Role.secretariat.value)
    jobs = await OutboxJob.select(OutboxJob.name, OutboxJob.payload).output(load_json=True)
    assert [(j["name"], j["payload"]) for j in jobs] == [
        ("send_mail", {"kind": "invitation", "invitation_id": invitation.id})
    ]
    assert f"{settings.base_url}/c/gold" in capsys.readouterr().out


async def test_only_an_operator_can_open_a_covenant(settings, capsys):
    person = await make_person(settings, "someone@example.org")
    code = await run(
        [
            "create-covenant",
            "--slug=gold",
            "--name=Gold",
            "--sector=Gold",
            "--languages=en",
            "--secretariat-email=s@gold.example.org",
            f"--operator-email={person.email}",
        ],
        settings,
    )
    assert code == 1
    assert "not a platform operator" in capsys.readouterr().err
    assert await Covenant.count() == 0


async def test_a_bad_covenant_slug_is_a_clear_message_and_changes_nothing(settings, capsys):
    operator = await make_person(settings, "ops@example.org", operator=True)
    code = await run(
        [
            "create-covenant",
            "--slug=Not a slug",
            "--name=Gold",
            "--sector=Gold",
            "--languages=en",
            "--secretariat-email=s@gold.example.org",
            f"--operator-email={operator.email}",
        ],
        settings,
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "lower-case letters" in err and "Traceback" not in err
    assert await Covenant.count() == 0
    assert await Invitation.count() == 0


async def test_create_user_without_password_prints_a_link_that_sets_one(client, settings, capsys):
    assert await run(["create-user", "--email=New.Person@example.org", "--name=New Person"], settings) == 0
    account = await Account.objects().where(Account.email == "new.person@example.org").first()
    assert account is not None and account.password_hash == "" and not account.is_operator

    found = re.search(re.escape(settings.base_url) + r"(/password/reset/\S+)", capsys.readouterr().out)
    assert found is not None
    link = found.group(1)
    assert (await client.get(link)).status_code == 200
    chosen = "a password of my own"
    assert (await post_form(client, link, {"password": chosen, "password_again": chosen})).status_code == 200
    await sign_in(client, Person(account=account, email=account.email, password=chosen))


async def test_create_user_reads_the_password_from_stdin(settings, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a strong operator password\n"))
    code = await run(
        ["create-user", "--email=ops@example.org", "--name=Ops", "--operator", "--password-stdin"], settings
    )
    assert code == 0
    assert await accounts.authenticate(settings, "ops@example.org", "a strong operator password") is not None
    assert (await Account.objects().where(Account.email == "ops@example.org").first()).is_operator
    assert await PasswordReset.count() == 0
    assert "/password/reset/" not in capsys.readouterr().out


async def test_create_user_refuses_a_weak_password_and_creates_nothing(settings, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code = await run(["create-user", "--email=a@example.org", "--name=A", "--password-stdin"], settings)
    assert code == 1
    assert "at least 10 characters" in capsys.readouterr().err
    assert await Account.count() == 0


async def test_create_user_for_a_taken_address_is_a_clear_error(settings, capsys):
    await make_person(settings, "taken@example.org")
    assert await run(["create-user", "--email=taken@example.org", "--name=Again"], settings) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert await PasswordReset.count() == 0


async def test_verify_audit_passes_an_untouched_log(settings, capsys):
    await run(["demo"], settings)
    capsys.readouterr()
    assert await run(["verify-audit"], settings) == 0
    out = capsys.readouterr().out
    assert f"{await _chain_of('textile')} (textile): 7 entries, intact" in out
    assert "platform:" in out and "BROKEN" not in out


async def test_verify_audit_finds_an_entry_altered_in_the_database(settings, capsys):
    await run(["demo"], settings)
    chain = await _chain_of("textile")
    await AuditEntry.raw(
        "UPDATE audit_entry SET action = {} WHERE chain = {} AND seq = {}", "nothing.happened", chain, 2
    )
    capsys.readouterr()
    assert await run(["verify-audit"], settings) == 1
    out = capsys.readouterr().out
    assert f"{chain} (textile): 7 entries, BROKEN" in out
    assert "entry 2 was altered" in out


async def test_verify_audit_finds_an_entry_deleted_from_the_database(settings, capsys):
    await run(["demo"], settings)
    chain = await _chain_of("textile")
    await AuditEntry.raw("DELETE FROM audit_entry WHERE chain = {} AND seq = {}", chain, 3)
    capsys.readouterr()
    assert await run(["verify-audit"], settings) == 1
    out = capsys.readouterr().out
    assert "entries 3 to 3 are missing" in out
    assert "entry 4 does not follow the entry before it" in out


async def test_verify_audit_of_one_covenant_checks_only_its_chain(settings, capsys):
    await run(["demo"], settings)
    await AuditEntry.raw("DELETE FROM audit_entry WHERE chain = {}", await _chain_of("natural-stone"))
    assert await run(["verify-audit", "--covenant=textile"], settings) == 0
    assert await run(["verify-audit", "--covenant=natural-stone"], settings) == 1
    assert await run(["verify-audit", "--covenant=unknown"], settings) == 1
    assert "no covenant with the short name 'unknown'" in capsys.readouterr().err


def test_the_worker_without_redis_says_what_it_needs(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker"]) == 1
    err = capsys.readouterr().err
    assert "REDIS_URL" in err and "imvo serve" in err


async def test_long_running_commands_are_not_started_inside_an_event_loop(capsys):
    assert await run(["serve"]) == 2
    assert "runs until it is stopped" in capsys.readouterr().err


def test_a_mistyped_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["serv"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_several_web_processes_need_redis(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("BASE_URL", "http://testserver")  # serve would otherwise set it for this process
    assert main(["serve", "--workers=2"]) == 1
    assert "more than one web process needs REDIS_URL" in capsys.readouterr().err
