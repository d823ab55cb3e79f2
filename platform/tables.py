"""The platform's tables: covenants (the tenants), accounts and what secures them, jobs and the audit log."""

from enum import StrEnum

from piccolo.columns import (
    JSON,
    Array,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Role(StrEnum):
    """What a person may do in one covenant (DESIGN §4)."""

    secretariat = "secretariat"
    company = "company"
    party = "party"
    handler = "handler"
    custodian = "custodian"
    translator = "translator"


# Roles that see grievance content or run the covenant: they must sign in with a second factor.
ROLES_REQUIRING_TOTP = frozenset({Role.secretariat, Role.handler, Role.custodian})


class Covenant(Table):
    """A sector covenant: the tenant every other record belongs to."""

    slug = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    sector = Varchar(length=100)
    languages = Array(base_column=Varchar(length=16))
    settings = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


class Account(Table):
    """One person, with one sign-in, who may belong to several covenants."""

    email = Varchar(length=320, unique=True)  # stored case-folded
    name = Varchar(length=200)
    password_hash = Varchar(length=200, default="")  # empty until the invitation is accepted
    locale = Varchar(length=16, default="en")
    is_operator = Boolean(default=False)
    totp_secret = Text(null=True, default=None)  # AES-GCM under a key derived from SECRET_KEY
    totp_enabled_at = Timestamptz(null=True, default=None)
    totp_last_step = Integer(default=0)  # refuses a code replayed within its 30-second window
    session_epoch = Integer(default=0)  # raised on password change: older sessions end
    disabled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    last_sign_in_at = Timestamptz(null=True, default=None)


class Membership(Table):
    """A role held by an account in a covenant."""

    account = ForeignKey(Account, on_delete=OnDelete.cascade)
    covenant = ForeignKey(Covenant, on_delete=OnDelete.cascade)
    role = Varchar(length=32, choices=Role)
    created_at = Timestamptz(default=TimestamptzNow())
    # Unique (account, covenant, role): an index made in the migration, as SQLite cannot add constraints.


class RecoveryCode(Table):
    """A single-use code that replaces a TOTP code when the phone is lost."""

    account = ForeignKey(Account, on_delete=OnDelete.cascade)
    code_hash = Varchar(length=64)
    used_at = Timestamptz(null=True, default=None)


class PasswordReset(Table):
    """A password reset link; its token is an HMAC of the row, so no token is stored."""

    account = ForeignKey(Account, on_delete=OnDelete.cascade)
    salt = Varchar(length=32)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Invitation(Table):
    """A secretariat's invitation of a person to a role in its covenant."""

    covenant = ForeignKey(Covenant, on_delete=OnDelete.cascade)
    email = Varchar(length=320)
    role = Varchar(length=32, choices=Role)
    invited_by = ForeignKey(Account, on_delete=OnDelete.restrict)
    locale = Varchar(length=16, default="en")
    salt = Varchar(length=32)
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table):
    """A personal token for the JSON API, bound to one covenant; only its SHA-256 is kept."""

    account = ForeignKey(Account, on_delete=OnDelete.cascade)
    covenant = ForeignKey(Covenant, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=16)  # shown in lists so people can tell tokens apart
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class OutboxJob(Table):
    """A background job, written in the same transaction as the change that causes it."""

    name = Varchar(length=100)
    payload = JSON(default={})  # ids only, never case content
    status = Varchar(length=16, default="pending", index=True)  # pending | queued | running | done | failed
    attempts = Integer(default=0)
    run_after = Timestamptz(default=TimestamptzNow())
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")


class AuditEntry(Table):
    """One line of an append-only audit log; each line's hash covers the one before it.

    A chain is per covenant (`covenant:<id>`) plus one for the platform (`platform`: operators, accounts).
    """

    chain = Varchar(length=64)
    covenant = ForeignKey(Covenant, null=True, default=None, on_delete=OnDelete.restrict)
    seq = Integer()
    at = Timestamptz(default=TimestamptzNow())
    actor = Integer(null=True, default=None)  # account id, kept even if the account goes
    action = Varchar(length=100)
    subject = Varchar(length=200, default="")
    details = JSON(default={})
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)
    # Unique (chain, seq), an index made in the migration: two writers can never fork a chain.


class AuditHead(Table):
    """The last entry of each chain: detects a deleted tail, and serialises writers on its row."""

    chain = Varchar(length=64, unique=True)
    seq = Integer(default=0)
    hash = Varchar(length=64, default="0" * 64)
