"""Personal API tokens: shown once, stored as a SHA-256, bound to one covenant, expiring and revocable.

A token acts with its holder's roles in that covenant at the moment of each call, so taking a role away
also takes it from the holder's tokens.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from imvo.platform import audit
from imvo.platform.crypto import token_hash
from imvo.platform.db import write_txn
from imvo.platform.errors import UserError
from imvo.platform.i18n import N_
from imvo.platform.tables import ApiToken, Covenant, Membership

PREFIX = "imvo_"
MAX_DAYS = 366


async def create_token(account_id: int, covenant_slug: str, name: str, days: int) -> tuple[ApiToken, str]:
    """Make a token for a covenant the account belongs to; returns the row and the token, shown once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError(N_("Give the token a name, so you recognise it later."), field="name")
    if not 1 <= days <= MAX_DAYS:
        raise UserError(N_("A token lasts between 1 and %(max)s days."), field="days", max=MAX_DAYS)
    covenant = await Covenant.select(Covenant.id).where(Covenant.slug == covenant_slug).first()
    if covenant is None or not await Membership.exists().where(
        (Membership.covenant == covenant["id"]) & (Membership.account == account_id)
    ):
        raise UserError(N_("Choose a covenant you belong to."), field="covenant")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account=account_id,
        covenant=covenant["id"],
        name=name,
        token_hash=token_hash(secret),
        prefix=secret[: len(PREFIX) + 6],
        expires_at=datetime.now(UTC) + timedelta(days=days),
    )
    async with write_txn():
        await token.save()
        await audit.record(
            "api_token.created",
            covenant_id=covenant["id"],
            actor=account_id,
            subject=f"api_token:{token.id}",
            details={"name": name, "days": days},
        )
    return token, secret


async def tokens_of(account_id: int) -> list[dict[str, object]]:
    return (
        await ApiToken.select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
            ApiToken.created_at,
            ApiToken.covenant.name.as_alias("covenant_name"),
        )
        .where(ApiToken.account == account_id)
        .order_by(ApiToken.created_at, ascending=False)
    )


async def revoke_token(account_id: int, token_id: int) -> None:
    async with write_txn():
        row = (
            await ApiToken.select(ApiToken.id, ApiToken.covenant, ApiToken.revoked_at)
            .where((ApiToken.id == token_id) & (ApiToken.account == account_id))
            .first()
        )
        if row is None:
            raise UserError(N_("This token does not exist."), status=404)
        if row["revoked_at"] is None:
            await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)}).where(ApiToken.id == token_id)
            await audit.record(
                "api_token.revoked",
                covenant_id=row["covenant"],
                actor=account_id,
                subject=f"api_token:{token_id}",
            )
