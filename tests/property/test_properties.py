"""Properties that must hold for any input, checked with generated inputs (hypothesis)."""

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imvo.platform.accounts import normalise_email
from imvo.platform.crypto import SecretBox
from imvo.platform.errors import UserError
from imvo.platform.i18n import available_locales, choose_locale, parse_accept_language
from imvo.platform.web import safe_next

texts = st.text(max_size=200)


@given(texts)
def test_a_return_path_never_leaves_the_site(target):
    path = safe_next(target)
    parts = urlsplit(path)
    assert path.startswith("/")
    assert not path.startswith("//")
    assert not parts.scheme and not parts.netloc
    assert "\\" not in path


@given(texts, st.one_of(st.none(), texts), st.one_of(st.none(), texts))
def test_the_chosen_locale_is_always_one_we_offer(accept_language, query, cookie):
    assert choose_locale(query, cookie, accept_language, available_locales(), "en") in available_locales()


@given(texts)
def test_accept_language_parsing_never_fails(header):
    assert all(isinstance(tag, str) and tag for tag in parse_accept_language(header))


@given(st.text(max_size=400))
def test_an_address_is_normalised_or_refused_with_a_message(text):
    try:
        email = normalise_email(text)
    except UserError as error:
        assert error.field == "email"
        return
    assert email == email.strip().casefold()
    assert email.count("@") == 1
    assert not any(ch.isspace() or ord(ch) < 32 for ch in email)


box = SecretBox("property-secret", "test")


@settings(max_examples=50)
@given(st.binary(max_size=512), st.text(max_size=50), st.text(max_size=50))
def test_sealed_values_open_only_in_their_own_context(plaintext, context, other):
    sealed = box.seal(plaintext, context)
    assert box.open(sealed, context) == plaintext
    if other != context:
        with pytest.raises(ValueError):
            box.open(sealed, other)
