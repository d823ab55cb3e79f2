"""The audit log: append-only, hash-chained per covenant; any altered or deleted entry is found."""

import asyncio

import pytest

from imvo.platform import audit
from imvo.platform.tables import AuditEntry, AuditHead, Role
from tests.helpers import grant, make_covenant, make_person, sign_in, text_of


@pytest.fixture
async def chain(settings):
    covenant = await make_covenant()
    for n in range(5):
        await audit.record(
            "test.event", covenant_id=covenant.id, actor=None, subject=f"thing:{n}", details={"n": n}
        )
    return covenant, audit.covenant_chain(covenant.id)


async def test_a_fresh_chain_is_intact(chain):
    _, name = chain
    report = await audit.verify_chain(name)
    assert report.intact, report.problems
    assert report.entries == 6  # covenant.created + five events


async def test_changes_of_a_covenant_are_logged_in_its_own_chain(settings):
    textile = await make_covenant("textile")
    stone = await make_covenant("natural-stone")
    person = await make_person(settings, "a@example.org")
    await grant(person, textile, Role.company)
    actions = await AuditEntry.select(AuditEntry.action).where(
        AuditEntry.chain == audit.covenant_chain(textile.id)
    )
    assert [a["action"] for a in actions] == ["covenant.created", "membership.granted"]
    assert await AuditEntry.count().where(AuditEntry.chain == audit.covenant_chain(stone.id)) == 1


async def test_an_altered_entry_is_found(chain):
    _, name = chain
    await AuditEntry.update({AuditEntry.action: "nothing.happened"}).where(
        (AuditEntry.chain == name) & (AuditEntry.seq == 3)
    )
    report = await audit.verify_chain(name)
    assert not report.intact
    assert "entry 3 was altered" in report.problems


async def test_altered_details_are_found(chain):
    _, name = chain
    await AuditEntry.update({AuditEntry.details: {"n": 99}}).where(
        (AuditEntry.chain == name) & (AuditEntry.seq == 2)
    )
    assert "entry 2 was altered" in (await audit.verify_chain(name)).problems


async def test_a_deleted_entry_is_found(chain):
    _, name = chain
    await AuditEntry.delete().where((AuditEntry.chain == name) & (AuditEntry.seq == 4))
    report = await audit.verify_chain(name)
    assert not report.intact
    assert any("missing" in p for p in report.problems)


async def test_deleting_the_newest_entries_is_found(chain):
    _, name = chain
    await AuditEntry.delete().where((AuditEntry.chain == name) & (AuditEntry.seq >= 5))
    report = await audit.verify_chain(name)
    assert not report.intact
    assert "the chain should end at entry 6, but ends at entry 4" in report.problems


async def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(chain):
    _, name = chain
    row = await AuditEntry.select().where((AuditEntry.chain == name) & (AuditEntry.seq == 2)).first()
    row["action"] = "forged.action"
    forged_hash = audit.entry_hash(row["prev_hash"], row)
    await AuditEntry.update({AuditEntry.action: "forged.action", AuditEntry.hash: forged_hash}).where(
        AuditEntry.id == row["id"]
    )
    assert "entry 3 does not follow the entry before it" in (await audit.verify_chain(name)).problems


async def test_concurrent_writers_never_fork_the_chain(chain):
    covenant, name = chain
    await asyncio.gather(
        *(audit.record("parallel.event", covenant_id=covenant.id, subject=str(n)) for n in range(10))
    )
    report = await audit.verify_chain(name)
    assert report.intact, report.problems
    assert report.entries == 16
    head = await AuditHead.select().where(AuditHead.chain == name).first()
    assert head["seq"] == 16


async def test_platform_events_have_their_own_chain(settings):
    await make_person(settings, "a@example.org")
    report = await audit.verify_chain(audit.PLATFORM_CHAIN)
    assert report.intact
    assert report.entries == 1


async def test_the_secretariat_sees_the_log_and_its_check(client, settings):
    covenant = await make_covenant()
    secretariat = await make_person(settings, "sec@example.org", totp=True)
    await grant(secretariat, covenant, Role.secretariat)
    await sign_in(client, secretariat)

    page = await client.get(f"/c/{covenant.slug}/audit")
    assert page.status_code == 200
    assert "Role granted" in page.text  # the action, in words
    assert "Test Person (Secretariat)" in text_of(page.text)  # the account it concerns, by name
    assert "intact" in page.text

    await AuditEntry.update({AuditEntry.subject: "tampered"}).where(AuditEntry.seq == 1)
    page = await client.get(f"/c/{covenant.slug}/audit")
    assert "tampered with" in page.text
