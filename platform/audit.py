"""The append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the previous hash and the entry's canonical content, so altering a row
breaks its own hash, deleting one leaves a gap in the sequence and breaks the next row's link, and deleting
the last rows disagrees with the chain's head (AuditHead), which is written in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imvo.platform.db import write_txn
from imvo.platform.i18n import N_
from imvo.platform.tables import AuditEntry, AuditHead

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"

# What people read for each action; an action without a label is shown by its code.
ACTION_LABELS = {
    "account.created": N_("Account created"),
    "account.password_changed": N_("Password changed"),
    "account.two_factor_enabled": N_("Two-step sign-in turned on"),
    "account.recovery_codes_renewed": N_("New recovery codes made"),
    "account.recovery_code_used": N_("Recovery code used to sign in"),
    "covenant.created": N_("Covenant created"),
    "covenant.updated": N_("Covenant details changed"),
    "invitation.sent": N_("Invitation sent"),
    "invitation.withdrawn": N_("Invitation withdrawn"),
    "membership.granted": N_("Role granted"),
    "membership.revoked": N_("Role removed"),
    "api_token.created": N_("API token created"),
    "api_token.revoked": N_("API token revoked"),
}


def covenant_chain(covenant_id: int) -> str:
    return f"covenant:{covenant_id}"


def _canonical(entry: dict[str, Any]) -> bytes:
    at: datetime = entry["at"]
    details = entry["details"]
    if isinstance(details, str):  # JSON columns come back as text
        details = json.loads(details)
    content = {
        "chain": entry["chain"],
        "seq": entry["seq"],
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry["actor"],
        "action": entry["action"],
        "subject": entry["subject"],
        "details": details,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(entry)).hexdigest()


async def record(
    action: str,
    *,
    covenant_id: int | None = None,
    actor: int | None = None,
    subject: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Append an entry to the covenant's chain (or the platform's, without a covenant).

    Call it inside the transaction that makes the change, so the entry exists exactly when the change does.
    """
    chain = covenant_chain(covenant_id) if covenant_id is not None else PLATFORM_CHAIN
    async with write_txn():
        await AuditHead.insert(AuditHead(chain=chain)).on_conflict(action="DO NOTHING")
        # Raising seq locks the head row on PostgreSQL, so writers to one chain take turns.
        head = (
            await AuditHead.update({AuditHead.seq: AuditHead.seq + 1})
            .where(AuditHead.chain == chain)
            .returning(AuditHead.seq, AuditHead.hash)
        )
        entry = {
            "chain": chain,
            "seq": head[0]["seq"],
            "at": datetime.now(UTC),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details or {},
        }
        digest = entry_hash(head[0]["hash"], entry)
        await AuditEntry.insert(
            AuditEntry(covenant=covenant_id, prev_hash=head[0]["hash"], hash=digest, **entry)
        )
        await AuditHead.update({AuditHead.hash: digest}).where(AuditHead.chain == chain)


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


async def verify_chain(chain: str) -> ChainReport:
    """Recompute a chain from its first entry and compare it with what is stored."""
    problems: list[str] = []
    rows = await AuditEntry.select().where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
    prev_hash, expected_seq = GENESIS, 1
    for row in rows:
        if row["seq"] != expected_seq:
            problems.append(f"entries {expected_seq} to {row['seq'] - 1} are missing")
        if row["prev_hash"] != prev_hash:
            problems.append(f"entry {row['seq']} does not follow the entry before it")
        if entry_hash(row["prev_hash"], row) != row["hash"]:
            problems.append(f"entry {row['seq']} was altered")
        prev_hash, expected_seq = row["hash"], row["seq"] + 1
    head = await AuditHead.select().where(AuditHead.chain == chain).first()
    head_seq, head_hash = (head["seq"], head["hash"]) if head else (0, GENESIS)
    if head_seq != expected_seq - 1 or head_hash != prev_hash:
        problems.append(f"the chain should end at entry {head_seq}, but ends at entry {expected_seq - 1}")
    return ChainReport(chain=chain, entries=len(rows), problems=tuple(problems))


async def verify_all() -> list[ChainReport]:
    heads = await AuditHead.select(AuditHead.chain).order_by(AuditHead.chain)
    entries = await AuditEntry.select(AuditEntry.chain).distinct()
    chains = sorted({h["chain"] for h in heads} | {e["chain"] for e in entries})
    return [await verify_chain(chain) for chain in chains]
