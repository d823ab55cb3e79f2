"""Languages: catalogues, the locale of a request, and the gettext and formatting functions for templates.

Two Babel domains (DESIGN §6): `public` for everything a complainant or the public sees, `messages` for the
workspace. Catalogues are compiled in memory from the .po files, so there is no build step to forget.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import Environment, pass_context
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from imvo.platform.settings import ROOT, Settings

LOCALES_DIR = ROOT / "locales"
DOMAINS = ("messages", "public")
SOURCE_LOCALE = "en"  # msgids are English; `en` catalogues exist so reviewers can polish wording
LANG_COOKIE = "lang"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@lru_cache
def available_locales() -> tuple[str, ...]:
    """Locales with a catalogue in locales/, the source locale first."""
    found = {p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    return (SOURCE_LOCALE, *sorted(found - {SOURCE_LOCALE}))


@lru_cache(maxsize=128)
def translations(locale: str, domain: str = "messages") -> NullTranslations:
    po = LOCALES_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def gettext(locale: str, message: str, domain: str = "messages", **params: Any) -> str:
    text = translations(locale, domain).gettext(message)
    return text % params if params else text


def ngettext(locale: str, singular: str, plural: str, n: int, domain: str = "messages", **params: Any) -> str:
    text = translations(locale, domain).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def parse_accept_language(header: str) -> list[str]:
    """Language tags from an Accept-Language header, best first, in Babel's `nl_BE` form."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, param = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        if param.strip().startswith("q="):
            try:
                quality = float(param.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, index, tag.replace("-", "_")))
    return [tag for _, _, tag in sorted(ranked)]


def choose_locale(
    query: str | None,
    cookie: str | None,
    accept_language: str | None,
    supported: tuple[str, ...],
    default: str,
) -> str:
    """?lang= first, then the cookie, then the browser's preferences, then the default."""
    for explicit in (query, cookie):
        if explicit and explicit.replace("-", "_") in supported:
            return explicit.replace("-", "_")
    if accept_language:
        preferred = parse_accept_language(accept_language)
        # Without aliases, Babel maps "nl" to "nl_NL" and no longer matches a plain "nl" catalogue.
        if found := negotiate_locale(preferred, list(supported), sep="_", aliases={}):
            return found
    return default if default in supported else supported[0]


@lru_cache(maxsize=128)
def locale_info(locale: str) -> tuple[str, str, str]:
    """(BCP 47 tag, text direction, display name in its own language) for <html lang dir> and menus."""
    try:
        parsed = Locale.parse(locale)
    except (ValueError, UnknownLocaleError):
        return locale.replace("_", "-"), "ltr", locale
    name = parsed.get_display_name(parsed) or locale
    return locale.replace("_", "-"), parsed.text_direction, name[:1].upper() + name[1:]


def language_cookie(locale: str, secure: bool) -> Cookie:
    """Keeps a language choice for a year."""
    return Cookie(key=LANG_COOKIE, value=locale, max_age=365 * 86400, samesite="lax", secure=secure)


def locale_of_connection(connection: ASGIConnection[Any, Any, Any, Any], default: str) -> str:
    """The locale a request asks for: ?lang=, then the cookie, then Accept-Language, then `default`."""
    return choose_locale(
        connection.query_params.get("lang"),
        connection.cookies.get(LANG_COOKIE),
        connection.headers.get("accept-language"),
        available_locales(),
        default,
    )


class LocaleMiddleware(ASGIMiddleware):
    """Sets `request.state.locale` before guards and handlers run, so error pages speak it too; a `?lang=`
    choice is kept in a cookie for the pages that follow."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        chosen = connection.query_params.get("lang")
        locale = locale_of_connection(connection, self.settings.default_locale)
        scope.setdefault("state", {})["locale"] = locale
        if not chosen or chosen.replace("-", "_") != locale:
            await next_app(scope, receive, send)
            return
        cookie = language_cookie(locale, self.settings.https).to_header(header="")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie)
            await send(message)

        await next_app(scope, receive, send_with_cookie)


def _locale(ctx: Any) -> str:
    request = ctx.get("request")
    state = getattr(request, "state", None)
    return getattr(state, "locale", None) or ctx.get("locale") or SOURCE_LOCALE


def _domain(ctx: Any) -> str:
    return ctx.get("i18n_domain") or "messages"


# Jinja's newstyle gettext fills in the %(name)s placeholders itself, so these return the bare translation.
@pass_context
def _template_gettext(ctx: Any, message: str) -> str:
    return translations(_locale(ctx), _domain(ctx)).gettext(message)


@pass_context
def _template_ngettext(ctx: Any, singular: str, plural: str, n: int) -> str:
    return translations(_locale(ctx), _domain(ctx)).ngettext(singular, plural, n)


@pass_context
def _date(ctx: Any, value: date | None, format: str = "medium") -> str:
    return "" if value is None else format_date(value, format, locale=_locale(ctx))


@pass_context
def _datetime(ctx: Any, value: datetime | None, format: str = "medium", tz: str = "Europe/Amsterdam") -> str:
    return "" if value is None else format_datetime(value, format, tzinfo=tz, locale=_locale(ctx))


@pass_context
def _number(ctx: Any, value: float | int | Decimal | None) -> str:
    return "" if value is None else format_decimal(value, locale=_locale(ctx))


@pass_context
def _percent(ctx: Any, value: float | Decimal | None) -> str:
    return "" if value is None else format_percent(value, locale=_locale(ctx))


@pass_context
def _currency(ctx: Any, value: float | Decimal | None, currency: str = "EUR") -> str:
    return "" if value is None else format_currency(value, currency, locale=_locale(ctx))


def install(env: Environment) -> None:
    """Per-request gettext for Jinja: the catalogue follows the request, not the environment."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_template_gettext, ngettext=_template_ngettext, newstyle=True
    )
    env.filters.update(date=_date, datetime=_datetime, number=_number, percent=_percent, currency=_currency)
    env.globals["locale_info"] = locale_info
    env.globals["available_locales"] = available_locales
