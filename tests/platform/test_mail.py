"""Mail: sent from jobs through the outbox, multipart, in the recipient's language, to a real SMTP server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from imvo.platform import accounts, jobs, mail
from imvo.platform.i18n import gettext
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, OutboxJob, PasswordReset, Role
from imvo.platform.tenancy import tenant_for
from tests.helpers import grant, make_covenant, make_person


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Inbox:
    """What a real SMTP server (aiosmtpd, on a port of its own) received: (envelope recipients, message)."""

    port: int
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = BytesParser(policy=default_policy).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def settings(settings: Settings, inbox: Inbox) -> Settings:
    """The test settings, sending to the inbox (the app of the `client` fixture gets them too)."""
    return settings.with_(smtp_host="127.0.0.1", smtp_port=inbox.port)


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def the_link_opens(client: httpx.AsyncClient, text: str, html: str, path: str) -> bool:
    """The mail's one link appears in both parts, and the page it points to opens."""
    [link] = re.findall(rf"http://testserver{path}\S+", text)
    assert f'href="{link}"' in html
    response = await client.get(urlsplit(link).path)
    return response.status_code == 200


async def test_password_reset_mail_is_multipart_in_the_recipients_language_and_its_link_works(
    settings: Settings, inbox: Inbox, client: httpx.AsyncClient
) -> None:
    person = await make_person(settings, "anna@example.org", name="Anna de Vries")
    await Account.update({Account.locale: "nl"}).where(Account.id == person.account.id)

    await accounts.request_password_reset("Anna@Example.org")
    await jobs.drain(settings)

    [(recipients, message)] = inbox.received
    assert recipients == ["anna@example.org"]
    assert message["To"] == "anna@example.org"
    assert message["From"] == settings.mail_from
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    # The account's locale reaches the renderer: Dutch wherever the nl catalogue translates the strings.
    assert message["Content-Language"] == "nl"
    assert '<html lang="nl"' in html
    assert message["Subject"] == gettext("nl", "Reset your password")
    assert gettext("nl", "Hello %(name)s,", name="Anna de Vries") in text
    assert gettext("nl", "Covenant platform") in html
    assert await the_link_opens(client, text, html, "/password/reset/")


async def test_invitation_mail_names_covenant_role_and_inviter_and_its_link_works(
    settings: Settings, inbox: Inbox, client: httpx.AsyncClient
) -> None:
    secretariat = await make_person(settings, "sara@example.org", name="Sara Jansen")
    covenant = await make_covenant(name="Textile & garments covenant")
    await grant(secretariat, covenant, Role.secretariat)
    tenant = await tenant_for(secretariat.account.id, covenant.slug)

    invitation = await accounts.invite(settings, tenant, email="Kim@Example.org", role="company", locale="nl")
    await jobs.drain(settings)

    [(recipients, message)] = inbox.received
    assert recipients == ["kim@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    # invite() keeps "nl" once an nl catalogue ships, and falls back to the default locale before that.
    locale = invitation.locale
    assert message["Content-Language"] == locale.replace("_", "-")
    assert message["Subject"] == gettext(locale, "Invitation to %(covenant)s", covenant=covenant.name)
    assert "Sara Jansen" in text and "Sara Jansen" in html
    assert covenant.name in text and "Textile &amp; garments covenant" in html  # escaped in HTML only
    assert gettext(locale, "Member company") in text and gettext(locale, "Member company") in html
    assert await the_link_opens(client, text, html, "/invitations/")


async def test_mail_waits_in_the_outbox_while_smtp_is_down_and_is_sent_on_retry(
    settings: Settings, inbox: Inbox
) -> None:
    smtp_down = settings.with_(smtp_port=free_port())
    await make_person(settings, "bob@example.org")
    await accounts.request_password_reset("bob@example.org")

    await jobs.drain(smtp_down)
    row = await OutboxJob.objects().first()
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("SMTPConnectError")
    assert inbox.received == []

    await jobs.drain(settings, now=row.run_after)  # the back-off has passed and the server is back
    [(recipients, _message)] = inbox.received
    assert recipients == ["bob@example.org"]
    assert (await OutboxJob.objects().first()).status == "done"  # type: ignore[union-attr]


async def test_no_mail_for_a_reset_link_used_before_the_job_ran(settings: Settings, inbox: Inbox) -> None:
    await make_person(settings, "eva@example.org")
    await accounts.request_password_reset("eva@example.org")
    reset = await PasswordReset.objects().first()
    assert reset is not None
    token = accounts.link_token(settings, "password-reset", reset.id, reset.salt)
    await accounts.reset_password(settings, token, "another long password")

    await jobs.drain(settings)

    assert inbox.received == []
    assert (await OutboxJob.objects().first()).status == "done"  # type: ignore[union-attr]


async def test_dev_mail_sink_keeps_each_mail_as_a_private_eml_file(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    sink = mail.start_dev_mail_sink(tmp_path, port=port)
    try:
        await make_person(settings, "dev@example.org")
        await accounts.request_password_reset("dev@example.org")
        await jobs.drain(settings.with_(smtp_port=port))
    finally:
        sink.stop()

    [eml] = (tmp_path / "mail").glob("*.eml")
    message = BytesParser(policy=default_policy).parsebytes(eml.read_bytes())
    assert message["To"] == "dev@example.org"
    assert message["Subject"] == gettext("en", "Reset your password")
    assert eml.stat().st_mode & 0o077 == 0  # the links in it sign people in: owner only
