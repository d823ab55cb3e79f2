"""Accounts: creation, passwords, sign-in checks, password resets and invitations.

Links in mails carry `<id>.<HMAC(SECRET_KEY, id:salt)>`: nothing secret is stored, a link works once (the
row is marked used) and only until it expires; a new SECRET_KEY voids every open link.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from imvo.platform import audit
from imvo.platform.crypto import (
    dummy_password_hash,
    hash_password,
    password_needs_rehash,
    sign,
    signature_matches,
    verify_password,
)
from imvo.platform.db import write_txn
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_, available_locales
from imvo.platform.jobs import enqueue
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, Covenant, Invitation, Membership, PasswordReset, Role
from imvo.platform.tenancy import TenantContext

RESET_VALID_FOR = timedelta(hours=1)
INVITATION_VALID_FOR = timedelta(days=14)
MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
_dummy_hashes: dict[str, str] = {}


def normalise_email(email: str) -> str:
    email = email.strip().casefold()
    if len(email) > 320 or not _EMAIL.match(email):
        raise UserError(N_("Enter a valid e-mail address."), field="email")
    return email


def check_password_strength(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            N_("Choose a password of at least %(min)s characters."), field="password", min=MIN_PASSWORD_LENGTH
        )
    if len(password) > 1024:
        raise UserError(N_("That password is too long."), field="password")
    if email and password.casefold() == email.casefold():
        raise UserError(N_("Your password may not be your e-mail address."), field="password")


async def create_account(
    settings: Settings,
    *,
    email: str,
    name: str,
    password: str | None,
    locale: str = "en",
    is_operator: bool = False,
    actor: int | None = None,
) -> Account:
    """Create an account; without a password it can only be entered through a reset or invitation link."""
    email = normalise_email(email)
    name = name.strip()
    if not name or len(name) > 200:
        raise UserError(N_("Enter your name."), field="name")
    if password is not None:
        check_password_strength(password, email)
    async with write_txn():
        if await Account.exists().where(Account.email == email):
            raise UserError(N_("An account with this e-mail address already exists."), field="email")
        account = Account(
            email=email,
            name=name,
            password_hash=hash_password(password, settings.password_cost) if password else "",
            locale=locale,
            is_operator=is_operator,
        )
        await account.save()
        await audit.record(
            "account.created", actor=actor, subject=f"account:{account.id}", details={"operator": is_operator}
        )
    return account


async def authenticate(settings: Settings, email: str, password: str) -> Account | None:
    """The account whose password this is, or None; as slow for unknown addresses as for known ones."""
    try:
        email = normalise_email(email)
    except UserError:
        return None
    account = await Account.objects().where(Account.email == email).first()
    if account is None or not account.password_hash or account.disabled_at is not None:
        key = repr(settings.password_cost)
        _dummy_hashes.setdefault(key, dummy_password_hash(settings.password_cost))
        verify_password(password, _dummy_hashes[key])
        return None
    if not verify_password(password, account.password_hash):
        return None
    if password_needs_rehash(account.password_hash, settings.password_cost):
        await Account.update({Account.password_hash: hash_password(password, settings.password_cost)}).where(
            Account.id == account.id
        )
    return account


async def change_password(settings: Settings, account: Account, current: str, new: str) -> int:
    """Change a password after checking the current one; returns the new session epoch."""
    if not verify_password(current, account.password_hash):
        raise UserError(N_("Your current password is not correct."), field="current_password")
    return await _set_password(settings, account, new)


async def _set_password(settings: Settings, account: Account, password: str) -> int:
    check_password_strength(password, account.email)
    # A new epoch ends every other session of this account.
    epoch = account.session_epoch + 1
    async with write_txn():
        await Account.update(
            {
                Account.password_hash: hash_password(password, settings.password_cost),
                Account.session_epoch: epoch,
            }
        ).where(Account.id == account.id)
        await audit.record("account.password_changed", actor=account.id, subject=f"account:{account.id}")
    return epoch


def link_token(settings: Settings, purpose: str, row_id: int, salt: str) -> str:
    return f"{row_id}.{sign(settings.secret_key, purpose, f'{row_id}:{salt}')}"


def _link(settings: Settings, path: str, purpose: str, row: PasswordReset | Invitation) -> str:
    return f"{settings.base_url}/{path}/{link_token(settings, purpose, row.id, row.salt)}"


LinkRow = TypeVar("LinkRow", PasswordReset, Invitation)


async def _signed_row(settings: Settings, table: type[LinkRow], purpose: str, token: str) -> LinkRow | None:
    """The row a link token names, if the token's signature is right for it; None for anything else."""
    row_id, _, signature = token.partition(".")
    if not row_id.isdigit() or len(row_id) > 18 or not signature:
        return None
    row = await table.objects().where(table.id == int(row_id)).first()
    if row is None or not signature_matches(settings.secret_key, purpose, f"{row.id}:{row.salt}", signature):
        return None
    return row


# ---- password reset ----------------------------------------------------------------------------------------


async def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account; say nothing either way (no account enumeration)."""
    try:
        email = normalise_email(email)
    except UserError:
        return
    async with write_txn():
        account = await Account.objects().where(Account.email == email).first()
        if account is None or account.disabled_at is not None:
            return
        reset = await open_password_reset(account.id)
        await enqueue("send_mail", kind="password_reset", reset_id=reset.id)


async def open_password_reset(account_id: int) -> PasswordReset:
    """A new reset for an account, valid for RESET_VALID_FOR; its link is `reset_link(settings, reset)`."""
    reset = PasswordReset(
        account=account_id, salt=secrets.token_hex(16), expires_at=datetime.now(UTC) + RESET_VALID_FOR
    )
    await reset.save()
    return reset


def reset_link(settings: Settings, reset: PasswordReset) -> str:
    return _link(settings, "password/reset", "password-reset", reset)


async def password_reset_for(settings: Settings, token: str) -> PasswordReset:
    """The open reset a link points to; a clear error if it is unknown, used or expired."""
    reset = await _signed_row(settings, PasswordReset, "password-reset", token)
    if reset is None:
        raise UserError(N_("This link is not valid. Ask for a new one."))
    if reset.used_at is not None:
        raise UserError(N_("This link was already used. Ask for a new one if you need to."))
    if reset.expires_at <= datetime.now(UTC):
        raise UserError(N_("This link has expired. Ask for a new one."))
    return reset


async def reset_password(settings: Settings, token: str, password: str) -> Account:
    async with write_txn():
        reset = await password_reset_for(settings, token)
        account = await Account.objects().where(Account.id == reset.account).first()
        if account is None:
            raise UserError(N_("This link is not valid. Ask for a new one."))
        marked = (
            await PasswordReset.update({PasswordReset.used_at: datetime.now(UTC)})
            .where((PasswordReset.id == reset.id) & PasswordReset.used_at.is_null())
            .returning(PasswordReset.id)
        )
        if not marked:  # a second tab raced us to it
            raise UserError(N_("This link was already used. Ask for a new one if you need to."))
        await _set_password(settings, account, password)
    return account


# ---- invitations -------------------------------------------------------------------------------------------


async def invite(
    settings: Settings, tenant: TenantContext, *, email: str, role: str, locale: str
) -> Invitation:
    """A secretariat invites a person to a role in its covenant; the invitation is mailed."""
    email = normalise_email(email)
    try:
        chosen = Role(role)
    except ValueError:
        raise UserError(N_("Choose a role."), field="role") from None
    if locale not in available_locales():
        locale = settings.default_locale
    async with write_txn():
        existing = await Membership.exists().where(
            (Membership.covenant == tenant.covenant_id)
            & (Membership.role == chosen.value)
            & (Membership.account.email == email)
        )
        if existing:
            raise UserError(N_("This person already has that role in the covenant."), field="email")
        invitation = Invitation(
            covenant=tenant.covenant_id,
            email=email,
            role=chosen.value,
            invited_by=tenant.account_id,
            locale=locale,
            salt=secrets.token_hex(16),
            expires_at=datetime.now(UTC) + INVITATION_VALID_FOR,
        )
        await invitation.save()
        await audit.record(
            "invitation.sent",
            covenant_id=tenant.covenant_id,
            actor=tenant.account_id,
            subject=f"invitation:{invitation.id}",
            details={"role": chosen.value},
        )
        await enqueue("send_mail", kind="invitation", invitation_id=invitation.id)
    return invitation


async def withdraw_invitation(tenant: TenantContext, invitation_id: int) -> None:
    """Take back an invitation not yet accepted: its link stops working and an unsent mail is not sent."""
    async with write_txn():
        invitation = (
            await Invitation.objects()
            .where(
                (Invitation.id == invitation_id)
                & (Invitation.covenant == tenant.covenant_id)
                & Invitation.accepted_at.is_null()
            )
            .first()
        )
        if invitation is None:
            raise UserError(N_("This invitation no longer exists or was already accepted."), status=404)
        await Invitation.delete().where(Invitation.id == invitation.id)
        await audit.record(
            "invitation.withdrawn",
            covenant_id=tenant.covenant_id,
            actor=tenant.account_id,
            subject=f"invitation:{invitation.id}",
            details={"role": invitation.role},
        )


def invitation_link(settings: Settings, invitation: Invitation) -> str:
    return _link(settings, "invitations", "invitation", invitation)


@dataclass(frozen=True)
class OpenInvitation:
    invitation: Invitation
    covenant_name: str
    account: Account | None  # the account the address already has, if any


async def invitation_for(settings: Settings, token: str) -> OpenInvitation:
    invitation = await _signed_row(settings, Invitation, "invitation", token)
    if invitation is None:
        raise UserError(N_("This invitation link is not valid."))
    if invitation.accepted_at is not None:
        raise UserError(N_("This invitation was already accepted. Sign in to continue."))
    if invitation.expires_at <= datetime.now(UTC):
        raise UserError(N_("This invitation has expired. Ask the covenant secretariat for a new one."))
    covenant = await Covenant.select(Covenant.name).where(Covenant.id == invitation.covenant).first()
    account = await Account.objects().where(Account.email == invitation.email).first()
    return OpenInvitation(invitation, covenant["name"] if covenant else "", account)


async def accept_invitation(
    settings: Settings, token: str, *, signed_in_account_id: int | None, name: str = "", password: str = ""
) -> Account:
    """Accept an invitation: as the signed-in holder of the address, or by creating the account."""
    async with write_txn():
        found = await invitation_for(settings, token)
        invitation, account = found.invitation, found.account
        if account is not None and account.password_hash:
            if signed_in_account_id != account.id:
                raise UserError(
                    N_("Sign in with %(email)s to accept this invitation."), email=invitation.email
                )
        elif account is not None:  # made earlier without a password (an earlier invitation never finished)
            await _set_password(settings, account, password)
        else:
            account = await create_account(
                settings, email=invitation.email, name=name, password=password, locale=invitation.locale
            )
        claimed = (
            await Invitation.update({Invitation.accepted_at: datetime.now(UTC)})
            .where((Invitation.id == invitation.id) & Invitation.accepted_at.is_null())
            .returning(Invitation.id)
        )
        if not claimed:
            raise UserError(N_("This invitation was already accepted. Sign in to continue."))
        await add_membership(invitation.covenant, account.id, Role(invitation.role), actor=account.id)
    return account


async def add_membership(covenant_id: int, account_id: int, role: Role, *, actor: int | None) -> None:
    async with write_txn():
        if await Membership.exists().where(
            (Membership.covenant == covenant_id)
            & (Membership.account == account_id)
            & (Membership.role == role.value)
        ):
            return
        await Membership.insert(Membership(covenant=covenant_id, account=account_id, role=role.value))
        await audit.record(
            "membership.granted",
            covenant_id=covenant_id,
            actor=actor,
            subject=f"account:{account_id}",
            details={"role": role.value},
        )


async def revoke_membership(tenant: TenantContext, membership_id: int) -> None:
    """Take a role away (secretariat). A secretariat cannot remove its own last secretariat role."""
    async with write_txn():
        row = (
            await Membership.objects()
            .where((Membership.id == membership_id) & (Membership.covenant == tenant.covenant_id))
            .first()
        )
        if row is None:
            raise UserError(N_("This role no longer exists."), status=404)
        if row.role == Role.secretariat.value:
            others = await Membership.count().where(
                (Membership.covenant == tenant.covenant_id) & (Membership.role == Role.secretariat.value)
            )
            if others <= 1:
                raise UserError(N_("A covenant needs at least one secretariat member."))
        await Membership.delete().where(Membership.id == row.id)
        await audit.record(
            "membership.revoked",
            covenant_id=tenant.covenant_id,
            actor=tenant.account_id,
            subject=f"account:{row.account}",
            details={"role": row.role},
        )
