"""Passwords and server-held secrets."""

import pytest

from imvo.platform.crypto import (
    SecretBox,
    hash_password,
    password_needs_rehash,
    sign,
    signature_matches,
    verify_password,
)
from imvo.platform.settings import PasswordCost


def test_passwords_are_hashed_with_argon2id_at_the_production_cost():
    cost = PasswordCost()
    encoded = hash_password("correct horse battery", cost)
    assert encoded.startswith("$argon2id$v=19$m=47104,t=1,p=1$")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not password_needs_rehash(encoded, cost)


def test_the_same_password_hashes_differently_each_time():
    cost = PasswordCost(memory_kib=1024, iterations=1, lanes=1)
    assert hash_password("same password", cost) != hash_password("same password", cost)


def test_a_cheaper_hash_asks_to_be_rehashed():
    cheap = hash_password("pw-pw-pw-pw", PasswordCost(memory_kib=1024, iterations=1, lanes=1))
    assert verify_password("pw-pw-pw-pw", cheap)
    assert password_needs_rehash(cheap, PasswordCost())


@pytest.mark.parametrize("garbage", ["", "$argon2id$", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$$$$$"])
def test_malformed_hashes_never_verify(garbage):
    assert not verify_password("anything", garbage)


def test_signed_links_are_bound_to_their_purpose_and_key():
    signature = sign("key-one", "password-reset", "7:abc")
    assert signature_matches("key-one", "password-reset", "7:abc", signature)
    assert not signature_matches("key-one", "invitation", "7:abc", signature)
    assert not signature_matches("key-two", "password-reset", "7:abc", signature)
    assert not signature_matches("key-one", "password-reset", "8:abc", signature)


def test_the_secret_box_opens_only_in_its_own_context():
    box = SecretBox("server-secret", "totp")
    sealed = box.seal(b"seed bytes", "account:1")
    assert b"seed bytes" not in sealed.encode()
    assert box.open(sealed, "account:1") == b"seed bytes"
    with pytest.raises(ValueError):
        box.open(sealed, "account:2")
    with pytest.raises(ValueError):
        SecretBox("another-secret", "totp").open(sealed, "account:1")
