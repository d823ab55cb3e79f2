"""Mail: templated multipart mails in the recipient's language, sent only from jobs, over SMTP.

Code that wants a mail sent enqueues `send_mail` with a kind and ids, in the transaction of the change:
`await enqueue("send_mail", kind="password_reset", reset_id=reset.id)`. The job loads the rows, renders
platform/mail/<kind>.subject.txt, <kind>.txt and <kind>.html in the recipient's locale and sends one
multipart/alternative message. A send that fails raises, so the outbox retries it with back-off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiosmtplib
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from imvo.platform import accounts, i18n
from imvo.platform.jobs import JobContext, job
from imvo.platform.settings import ROOT, Settings
from imvo.platform.tables import Account, Covenant, Invitation, PasswordReset
from imvo.platform.web import role_label

log = structlog.get_logger("imvo.mail")

TEMPLATE_DIR = ROOT / "platform" / "templates"
SMTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Mail:
    """What a kind's builder decides: who gets the mail, in which language, and what the templates show."""

    to: str
    locale: str
    context: dict[str, Any] = field(default_factory=dict)


MailBuilder = Callable[..., Awaitable[Mail | None]]
MAIL_KINDS: dict[str, MailBuilder] = {}


def mail_kind(kind: str) -> Callable[[MailBuilder], MailBuilder]:
    """Register `async def build(settings, **ids) -> Mail | None`; None means the mail is no longer wanted."""

    def register(builder: MailBuilder) -> MailBuilder:
        MAIL_KINDS[kind] = builder
        return builder

    return register


@job("send_mail")
async def send_mail(ctx: JobContext, kind: str, **ids: int) -> None:
    """Build, render and send one mail; a mail that became moot (say, the link was used) is dropped."""
    builder = MAIL_KINDS[kind]
    mail = await builder(ctx.settings, **ids)
    if mail is None:
        log.info("mail no longer needed", kind=kind, outbox_id=ctx.job_id)
        return
    await deliver(ctx.settings, render_mail(ctx.settings, kind, mail))
    log.info("mail sent", kind=kind, outbox_id=ctx.job_id)


# ---- kinds -------------------------------------------------------------------------------------------------


@mail_kind("password_reset")
async def password_reset_mail(settings: Settings, *, reset_id: int) -> Mail | None:
    reset = await PasswordReset.objects().where(PasswordReset.id == reset_id).first()
    if reset is None or reset.used_at is not None or reset.expires_at <= datetime.now(UTC):
        return None
    account = await Account.objects().where(Account.id == reset.account).first()
    if account is None or account.disabled_at is not None:
        return None
    return Mail(
        to=account.email,
        locale=account.locale,
        context={
            "name": account.name,
            "link": accounts.reset_link(settings, reset),
            "valid_minutes": int(accounts.RESET_VALID_FOR.total_seconds() // 60),
        },
    )


@mail_kind("invitation")
async def invitation_mail(settings: Settings, *, invitation_id: int) -> Mail | None:
    invitation = await Invitation.objects().where(Invitation.id == invitation_id).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= datetime.now(UTC):
        return None
    covenant = await Covenant.select(Covenant.name).where(Covenant.id == invitation.covenant).first()
    inviter = await Account.select(Account.name).where(Account.id == invitation.invited_by).first()
    return Mail(
        to=invitation.email,
        locale=invitation.locale,
        context={
            "covenant_name": covenant["name"] if covenant else "",
            "role": role_label(invitation.role),  # a msgid: the template translates it
            "inviter_name": inviter["name"] if inviter else "",
            "link": accounts.invitation_link(settings, invitation),
            "expires_at": invitation.expires_at,
        },
    )


# ---- rendering and sending ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def mail_environment() -> Environment:
    """Jinja for mails: HTML escaped, text not; gettext follows the `locale` in each render's context."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    i18n.install(env)
    return env


def render_mail(settings: Settings, kind: str, mail: Mail) -> EmailMessage:
    """The multipart/alternative message (text, then HTML) for a built mail."""
    env = mail_environment()
    lang_tag, text_dir, _name = i18n.locale_info(mail.locale)
    context = {
        **mail.context,
        "locale": mail.locale,
        "i18n_domain": "messages",
        "lang_tag": lang_tag,
        "text_dir": text_dir,
        "base_url": settings.base_url,
    }
    subject = " ".join(env.get_template(f"platform/mail/{kind}.subject.txt").render(context).split())
    text = env.get_template(f"platform/mail/{kind}.txt").render(context)
    html = env.get_template(f"platform/mail/{kind}.html").render(context)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_sender_domain(settings.mail_from))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to these
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = lang_tag  # after set_content, which drops Content-* headers
    return message


def _sender_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


async def deliver(settings: Settings, message: EmailMessage) -> None:
    """Send over SMTP with the configured host, port, login and TLS mode (none | starttls | tls)."""
    if settings.smtp_host is None:
        raise RuntimeError("SMTP_HOST is not set")
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_user,
        password=settings.smtp_password,
        use_tls=settings.smtp_tls == "tls",
        start_tls=settings.smtp_tls == "starttls",
        timeout=SMTP_TIMEOUT_SECONDS,
    )


# ---- development mail sink ---------------------------------------------------------------------------------


class MailFolder:
    """An aiosmtpd handler that keeps each mail it receives as an .eml file in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        del server, session
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        path = self.folder / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid4().hex[:8]}.eml"
        path.touch(mode=0o600)  # mails hold sign-in links: readable by the owner only
        path.write_bytes(content)
        subject = BytesParser(policy=default_policy).parsebytes(content, headersonly=True)["subject"]
        log.info("mail stored", to=", ".join(envelope.rcpt_tos), subject=str(subject or ""), file=str(path))
        return "250 Message accepted for delivery"


def start_dev_mail_sink(data_dir: Path, port: int = 8025, host: str = "127.0.0.1") -> Controller:
    """Start a local SMTP server that stores every mail as DATA_DIR/mail/<time>-<id>.eml; for development.

    For the CLI: when SMTP_HOST is not set, call it before serving, point the settings at it with
    `settings.with_(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")`, and call `.stop()` on the
    returned aiosmtpd Controller at shutdown. The server runs in a thread of its own, so it works beside any
    event loop. Each mail logs one line (to, subject, file). It raises OSError when the port is taken.
    """
    folder = data_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailFolder(folder), hostname=host, port=port)
    controller.start()
    return controller
