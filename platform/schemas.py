"""The JSON API's shapes (msgspec Structs), documented in the OpenAPI schema at /schema."""

from __future__ import annotations

from datetime import datetime

import msgspec


class MembershipOut(msgspec.Struct):
    covenant: str
    role: str


class MeOut(msgspec.Struct):
    id: int
    email: str
    name: str
    locale: str
    memberships: list[MembershipOut]


class CovenantOut(msgspec.Struct):
    slug: str
    name: str
    sector: str
    languages: list[str]
    your_roles: list[str]


class CovenantChange(msgspec.Struct):
    name: str
    sector: str
    languages: list[str]


class PersonOut(msgspec.Struct):
    membership_id: int
    name: str
    email: str
    role: str
    since: datetime


class InvitationIn(msgspec.Struct):
    email: str
    role: str
    locale: str = "en"


class InvitationOut(msgspec.Struct):
    id: int
    email: str
    role: str
    expires_at: datetime


class AuditEntryOut(msgspec.Struct):
    seq: int
    at: datetime
    actor: int | None
    action: str
    subject: str
    hash: str


class AuditOut(msgspec.Struct):
    intact: bool
    problems: list[str]
    entries: list[AuditEntryOut]
