"""Two-step sign-in: TOTP (RFC 6238) with recovery codes.

The TOTP seed is kept sealed under a key derived from SECRET_KEY. A code is accepted once: the time step it
belongs to is remembered, so a code seen over someone's shoulder cannot be replayed within its window.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import segno
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from imvo.platform import audit
from imvo.platform.crypto import SecretBox, token_hash
from imvo.platform.db import write_txn
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_
from imvo.platform.settings import Settings
from imvo.platform.tables import Account, RecoveryCode

STEP_SECONDS = 30
RECOVERY_CODES = 10
ISSUER = "Covenant platform"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are typed from paper


def _totp(seed: bytes) -> TOTP:
    return TOTP(seed, 6, SHA1(), STEP_SECONDS, enforce_key_length=True)


def _box(settings: Settings) -> SecretBox:
    return SecretBox(settings.secret_key, "totp")


@dataclass(frozen=True)
class Enrolment:
    """A seed waiting for its first code: kept in the session until confirmed."""

    seed_b32: str
    uri: str

    def qr_svg(self) -> str:
        return segno.make(self.uri, error="m").svg_inline(scale=5, dark="#1b1b1b", light="#ffffff")


def start_enrolment(account: Account) -> Enrolment:
    return enrolment_for(account, base64.b32encode(os.urandom(20)).decode())


def enrolment_for(account: Account, seed_b32: str) -> Enrolment:
    uri = _totp(base64.b32decode(seed_b32)).get_provisioning_uri(account.email, ISSUER)
    return Enrolment(seed_b32=seed_b32, uri=uri)


def _matching_step(seed: bytes, code: str, now: float) -> int | None:
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = _totp(seed)
    step = int(now // STEP_SECONDS)
    for candidate in (step, step - 1, step + 1):  # one step either way for clock drift
        try:
            totp.verify(code.encode(), candidate * STEP_SECONDS)
        except InvalidToken:
            continue
        return candidate
    return None


def new_recovery_codes() -> list[str]:
    return [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]


async def _replace_recovery_codes(account_id: int) -> list[str]:
    codes = new_recovery_codes()
    await RecoveryCode.delete().where(RecoveryCode.account == account_id)
    await RecoveryCode.insert(*(RecoveryCode(account=account_id, code_hash=token_hash(c)) for c in codes))
    return codes


async def confirm_enrolment(
    settings: Settings, account: Account, enrolment: Enrolment, code: str
) -> list[str]:
    """Turn two-step sign-in on once the first code matches; returns the recovery codes, shown once."""
    seed = base64.b32decode(enrolment.seed_b32)
    step = _matching_step(seed, code, time.time())
    if step is None:
        raise UserError(
            N_("That code is not correct. Check the time on your phone and try again."), field="code"
        )
    async with write_txn():
        await Account.update(
            {
                Account.totp_secret: _box(settings).seal(seed, f"account:{account.id}"),
                Account.totp_enabled_at: datetime.now(UTC),
                Account.totp_last_step: step,
            }
        ).where(Account.id == account.id)
        codes = await _replace_recovery_codes(account.id)
        await audit.record("account.two_factor_enabled", actor=account.id, subject=f"account:{account.id}")
    return codes


async def regenerate_recovery_codes(account: Account) -> list[str]:
    async with write_txn():
        codes = await _replace_recovery_codes(account.id)
        await audit.record(
            "account.recovery_codes_renewed", actor=account.id, subject=f"account:{account.id}"
        )
    return codes


async def verify_second_factor(settings: Settings, account: Account, code: str) -> bool:
    """Check a TOTP code or an unused recovery code; each is accepted once."""
    if account.totp_secret is None:
        return False
    cleaned = code.strip().lower()
    if "-" in cleaned or any(ch.isalpha() for ch in cleaned):
        used = (
            await RecoveryCode.update({RecoveryCode.used_at: datetime.now(UTC)})
            .where(
                (RecoveryCode.account == account.id)
                & (RecoveryCode.code_hash == token_hash(cleaned.replace(" ", "")))
                & RecoveryCode.used_at.is_null()
            )
            .returning(RecoveryCode.id)
        )
        if used:
            await audit.record(
                "account.recovery_code_used", actor=account.id, subject=f"account:{account.id}"
            )
        return bool(used)
    seed = _box(settings).open(account.totp_secret, f"account:{account.id}")
    step = _matching_step(seed, cleaned, time.time())
    if step is None:
        return False
    # Only a later step than the last accepted one counts; the WHERE makes two racing requests agree.
    claimed = (
        await Account.update({Account.totp_last_step: step})
        .where((Account.id == account.id) & (Account.totp_last_step < step))
        .returning(Account.id)
    )
    return bool(claimed)


async def unused_recovery_codes(account_id: int) -> int:
    return await RecoveryCode.count().where(
        (RecoveryCode.account == account_id) & RecoveryCode.used_at.is_null()
    )
