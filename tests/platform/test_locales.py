"""The catalogues in locales/ are complete, consistent and up to date with the source (DESIGN.md §6).

`public` (what complainants and the public see) must be complete in every shipped locale; `messages` (the
workspace) in nl and en at least. The commands that fix a failure are in docs/translations.md.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from imvo.platform.i18n import DOMAINS, LOCALES_DIR
from imvo.platform.settings import ROOT

SHIPPED = sorted(p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
MUST_BE_COMPLETE = {"public": set(SHIPPED), "messages": {"nl", "en"}}
CATALOGUES = [(locale, domain) for locale in SHIPPED for domain in DOMAINS]
COMPLETE_CATALOGUES = [(loc, domain) for loc, domain in CATALOGUES if loc in MUST_BE_COMPLETE[domain]]
# The keywords of the documented `pybabel extract` commands: defaults (N_, _, gettext, ngettext) for the
# workspace, `--no-default-keywords -k P_` for the public domain.
EXTRACT_KEYWORDS = {"messages": DEFAULT_KEYWORDS, "public": parse_keywords(["P_"])}
REVIEW_STATUSES = ("source language", "machine-made, needs native review", "reviewed by a native speaker")
PLACEHOLDER = re.compile(r"%\((\w+)\)")
UPDATE = "run `pybabel update ... --ignore-obsolete` (docs/translations.md)"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _catalogue(locale: str, domain: str) -> Catalog:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), (
        f"{path} is missing: run `pybabel init -D {domain} -l {locale}` (docs/translations.md)"
    )
    return _read(path, locale)


def _template_ids(domain: str) -> set[str | tuple[str, ...]]:
    return {m.id for m in _read(LOCALES_DIR / f"{domain}.pot") if m.id}


def _untranslated(message: Message) -> bool:
    # A plural's msgstr is a tuple, and a tuple of empty strings is truthy: check every form.
    if isinstance(message.string, tuple):
        return not all(message.string)
    return not message.string


def _forms(message: Message) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs to compare: for plurals, every form against the plural msgid."""
    if isinstance(message.id, tuple):
        return [(message.id[-1], form) for form in message.string]
    return [(message.id, message.string)]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_shipped_locale_has_a_catalogue_in_both_domains(domain):
    assert (LOCALES_DIR / f"{domain}.pot").exists()
    for locale in SHIPPED:
        _catalogue(locale, domain)


def test_dutch_and_english_are_shipped():
    assert {"nl", "en"} <= set(SHIPPED)


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_catalogue_covers_every_msgid_of_the_template(locale, domain):
    have = {m.id for m in _catalogue(locale, domain) if m.id}
    missing = _template_ids(domain) - have
    first = sorted(map(str, missing))[:5]
    assert not missing, f"{locale}/{domain}.po lacks {len(missing)} msgids: {UPDATE}. First: {first}"


@pytest.mark.parametrize(("locale", "domain"), COMPLETE_CATALOGUES)
def test_catalogue_has_no_untranslated_entries_where_it_must_be_complete(locale, domain):
    untranslated = [m.id for m in _catalogue(locale, domain) if m.id and _untranslated(m)]
    assert not untranslated, f"untranslated in {locale}/{domain}.po: {untranslated}"


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_catalogue_has_no_fuzzy_entries(locale, domain):
    # pybabel update marks a guessed translation fuzzy; a person has to confirm it and remove the flag.
    fuzzy = [m.id for m in _catalogue(locale, domain) if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy in {locale}/{domain}.po (review them, then drop the flag): {fuzzy}"


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_catalogue_passes_babels_placeholder_checks(locale, domain):
    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalogue(locale, domain).check()]
    assert not problems, f"{locale}/{domain}.po: {problems}"


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_translation_keeps_every_placeholder_of_its_msgid(locale, domain):
    # Babel accepts a translation that drops a placeholder; a reader would then miss the value. Only `num`
    # may be left out of a plural form (e.g. "one file").
    dropped = []
    for message in _catalogue(locale, domain):
        if not message.id or _untranslated(message):
            continue
        for msgid, msgstr in _forms(message):
            expected = set(PLACEHOLDER.findall(msgid)) - ({"num"} if isinstance(message.id, tuple) else set())
            if lost := expected - set(PLACEHOLDER.findall(msgstr)):
                dropped.append((msgid, msgstr, sorted(lost)))
    assert not dropped, f"{locale}/{domain}.po drops placeholders: {dropped}"


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_catalogue_compiles(locale, domain):
    write_mo(io.BytesIO(), _catalogue(locale, domain))


@pytest.mark.parametrize(("locale", "domain"), CATALOGUES)
def test_catalogue_header_states_its_review_status(locale, domain):
    # DESIGN §6: a translation made without a native speaker says so in its header. A comment, because
    # pybabel update drops unknown header fields but keeps the header comment.
    header = _catalogue(locale, domain).header_comment
    statuses = re.findall(r"^# Review-Status: (.+)$", header, flags=re.MULTILINE)
    assert statuses and statuses[0] in REVIEW_STATUSES, f"{locale}/{domain}.po header: {header!r}"


def _extract(domain: str, source: Path) -> set[str | tuple[str, ...]]:
    """The msgids the documented `pybabel extract` command finds for a domain under `source`."""
    with (ROOT / f"babel-{domain}.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, filename=f"babel-{domain}.cfg")
    found = extract_from_dir(source, method_map, options_map, keywords=EXTRACT_KEYWORDS[domain])
    return {message for _file, _line, message, _comments, _context in found}


@pytest.mark.parametrize("domain", DOMAINS)
def test_template_is_up_to_date_with_the_source(domain):
    extracted, in_template = _extract(domain, ROOT), _template_ids(domain)
    assert extracted == in_template, (
        f"locales/{domain}.pot is out of date: run `pybabel extract -F babel-{domain}.cfg ...` and then "
        f"`pybabel update` (docs/translations.md). New: {sorted(map(str, extracted - in_template))[:5]}; "
        f"gone: {sorted(map(str, in_template - extracted))[:5]}"
    )


def test_public_pages_and_p_marked_strings_go_to_the_public_domain_only(tmp_path):
    files = {
        "grievances/templates/grievances/public/receipt.html": '{{ _("Keep your receipt safe.") }}\n'
        '{{ ngettext("%(num)s new message", "%(num)s new messages", count) }}',
        "grievances/intake.py": 'from imvo.platform.i18n import N_, P_\nA = P_("Report a problem")\n'
        'B = N_("Case handling")\n',
        "platform/templates/platform/page.html": '{{ _("Workspace page") }}',
        "platform/cli.py": 'print(gettext(locale, "Done."))\nprint(ngettext(locale, "%(num)s job", "%(num)s jobs", n))\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert _extract("public", tmp_path) == {
        "Keep your receipt safe.",
        ("%(num)s new message", "%(num)s new messages"),
        "Report a problem",
    }
    assert _extract("messages", tmp_path) == {
        "Case handling",
        "Workspace page",
        "Done.",
        ("%(num)s job", "%(num)s jobs"),
    }
