"""Cryptographic building blocks: password hashes, token hashes, signed links and the server's secret box.

The grievance channel's case keys and sealing live in imvo.grievances; these are the platform's own needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from imvo.platform.settings import PasswordCost


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, cost: PasswordCost) -> str:
    """An Argon2id hash in the PHC string format, carrying its own parameters."""
    salt = os.urandom(16)
    digest = Argon2id(
        salt=salt, length=32, iterations=cost.iterations, lanes=cost.lanes, memory_cost=cost.memory_kib
    ).derive(password.encode())
    params = f"m={cost.memory_kib},t={cost.iterations},p={cost.lanes}"
    return f"$argon2id$v=19${params}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, algorithm, _version, params, salt, digest = encoded.split("$")
        values = dict(item.split("=") for item in params.split(","))
        kdf = Argon2id(
            salt=_unb64(salt),
            length=len(_unb64(digest)),
            iterations=int(values["t"]),
            lanes=int(values["p"]),
            memory_cost=int(values["m"]),
        )
    except (ValueError, KeyError):
        return False
    if algorithm != "argon2id":
        return False
    try:
        kdf.verify(password.encode(), _unb64(digest))
    except InvalidKey:
        return False
    return True


def password_needs_rehash(encoded: str, cost: PasswordCost) -> bool:
    return f"m={cost.memory_kib},t={cost.iterations},p={cost.lanes}" not in encoded


# A hash that takes as long as a real one, so a sign-in for an unknown address is not faster.
def dummy_password_hash(cost: PasswordCost) -> str:
    return hash_password(secrets.token_urlsafe(16), cost)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token (API tokens, recovery codes): fast lookup, nothing to reverse."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret_key: str, purpose: str, message: str) -> str:
    """A URL-safe HMAC-SHA256 of `message`, bound to a purpose so one link can never serve as another."""
    mac = hmac.new(secret_key.encode(), f"{purpose}\x1f{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signature_matches(secret_key: str, purpose: str, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret_key, purpose, message), signature)


class SecretBox:
    """AES-256-GCM under a key derived from SECRET_KEY, for server-held secrets such as TOTP seeds."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        key = HKDF(hashes.SHA256(), 32, salt=None, info=f"imvo-{purpose}-v1".encode()).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)
        self._purpose = purpose.encode()

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + self._aead.encrypt(nonce, plaintext, self._purpose + b"\x1f" + context.encode()))

    def open(self, sealed: str, context: str) -> bytes:
        blob = _unb64(sealed)
        try:
            return self._aead.decrypt(blob[:12], blob[12:], self._purpose + b"\x1f" + context.encode())
        except InvalidTag as error:
            raise ValueError("sealed value does not match its context or key") from error
