"""Languages: which locale a request gets, pages and errors in that language, and Babel's formatting.

Locale order (DESIGN.md §6): `?lang=`, then the `lang` cookie, then Accept-Language, then the default.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from jinja2 import Environment

from imvo.platform import i18n
from tests.helpers import text_of


async def test_lang_parameter_wins_and_is_kept_in_a_cookie(client):
    response = await client.get("/sign-in?lang=nl", headers={"Accept-Language": "en"})

    assert '<html lang="nl" dir="ltr">' in response.text
    assert response.cookies.get("lang") == "nl"
    assert '<html lang="nl"' in (await client.get("/sign-in", headers={"Accept-Language": "en"})).text


async def test_lang_parameter_for_an_unsupported_language_is_ignored_and_not_kept(client):
    response = await client.get("/sign-in?lang=xx", headers={"Accept-Language": "nl"})

    assert '<html lang="nl"' in response.text
    assert "lang" not in response.cookies


async def test_cookie_wins_over_accept_language(client):
    client.cookies.set("lang", "en")

    response = await client.get("/sign-in", headers={"Accept-Language": "nl"})

    assert '<html lang="en" dir="ltr">' in response.text


@pytest.mark.parametrize("header", ["nl-BE,nl;q=0.9", "nl", "fr;q=0.9,nl-NL;q=0.8,en;q=0.5"])
async def test_accept_language_chooses_dutch(client, header):
    response = await client.get("/sign-in", headers={"Accept-Language": header})

    assert '<html lang="nl" dir="ltr">' in response.text


async def test_unsupported_language_falls_back_to_the_default(client, settings):
    response = await client.get("/sign-in", headers={"Accept-Language": "fr-FR,fr;q=0.9"})

    assert f'<html lang="{settings.default_locale}" dir="ltr">' in response.text


def test_fallback_is_the_configured_default_not_english():
    chosen = i18n.choose_locale(None, None, "fr-FR,fr;q=0.9", ("en", "nl"), default="nl")

    assert chosen == "nl"


async def test_sign_in_page_in_dutch(client):
    response = await client.get("/sign-in", headers={"Accept-Language": "nl"})
    text = text_of(response.text)

    assert "<h1>Inloggen</h1>" in response.text
    assert "Wachtwoord vergeten?" in text
    assert "Sign in" not in text


async def test_missing_page_is_explained_in_dutch(client):
    response = await client.get("/no-such-page", headers={"Accept-Language": "nl", "Accept": "text/html"})

    assert response.status_code == 404
    assert '<html lang="nl"' in response.text
    assert "Deze pagina bestaat niet, of u hebt er geen toegang toe." in text_of(response.text)


async def test_api_not_found_has_a_dutch_detail(client):
    response = await client.get("/api/v1/no-such-thing", headers={"Accept-Language": "nl"})

    assert response.status_code == 404
    assert response.json()["detail"] == "Deze pagina bestaat niet, of u hebt er geen toegang toe."


def test_python_messages_are_translated_with_their_placeholders():
    message = "Choose a password of at least %(min)s characters."

    assert i18n.gettext("nl", message, min=10) == "Kies een wachtwoord van minstens 10 tekens."
    assert i18n.gettext("en", message, min=10) == "Choose a password of at least 10 characters."


@pytest.mark.parametrize("locale", ["ar", "fa", "ur", "he"])
def test_right_to_left_languages_are_marked_rtl(locale):
    tag, direction, _name = i18n.locale_info(locale)

    assert (tag, direction) == (locale, "rtl")


def test_locale_info_names_a_language_in_itself():
    assert i18n.locale_info("nl") == ("nl", "ltr", "Nederlands")
    assert i18n.locale_info("pt_BR")[0] == "pt-BR"


def _render(source: str, locale: str, **context: object) -> str:
    env = Environment(autoescape=True)
    i18n.install(env)
    return env.from_string(source).render(locale=locale, **context)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl", "Inloggen · Nog 1 herstelcode over. · Nog 3 herstelcodes over."),
        ("en", "Sign in · 1 recovery code left. · 3 recovery codes left."),
    ],
)
def test_templates_translate_with_plural_forms(locale, expected):
    source = (
        '{{ _("Sign in") }} · '
        '{{ ngettext("%(num)s recovery code left.", "%(num)s recovery codes left.", 1) }} · '
        '{{ ngettext("%(num)s recovery code left.", "%(num)s recovery codes left.", 3) }}'
    )

    assert _render(source, locale) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl", "5 mrt 2026 | 5 mrt 2026, 15:30:00 | 1.234.567,891 | €\xa01.234,50 | 35%"),
        ("en", "Mar 5, 2026 | Mar 5, 2026, 3:30:00\u202fPM | 1,234,567.891 | €1,234.50 | 35%"),
    ],
)
def test_formatting_filters_follow_the_locale(locale, expected):
    source = "{{ d|date }} | {{ t|datetime }} | {{ n|number }} | {{ c|currency }} | {{ p|percent }}"
    values = {
        "d": date(2026, 3, 5),
        "t": datetime(2026, 3, 5, 14, 30, tzinfo=UTC),  # shown in Europe/Amsterdam time
        "n": Decimal("1234567.891"),
        "c": Decimal("1234.5"),
        "p": 0.35,
    }

    assert _render(source, locale, **values) == expected


def test_formatting_filters_show_nothing_for_a_missing_value():
    assert _render("[{{ none|date }}{{ none|number }}{{ none|currency }}]", "nl", none=None) == "[]"
