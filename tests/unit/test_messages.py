"""The translation catalogues behind ``BillingError.user_message``: every code has
its sentence in English and French, the compiled catalogues match their
sources, and the template lists every sentence of the code."""

from __future__ import annotations

import gettext
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from workspace_billing import CODES, Catalog
from workspace_billing.messages import DOMAIN, LOCALE_DIR, LOCALES, USER_MESSAGES, render

SOURCE = Path(__file__).resolve().parents[2] / "src" / "workspace_billing" / "messages.py"


def _po(language: str) -> dict[object, object]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        catalog = read_po(f)
    return {m.id: m.string for m in catalog if m.id}


def _sentences() -> set[object]:
    found: set[object] = set()
    for message in USER_MESSAGES.values():
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


class TestCatalogues:
    def test_every_code_has_a_sentence(self) -> None:
        assert set(USER_MESSAGES) == set(CODES)

    @pytest.mark.parametrize("language", LOCALES)
    def test_every_sentence_is_translated(self, language: str) -> None:
        po = _po(language)
        assert set(po) == _sentences()
        for msgid, string in po.items():
            assert string, msgid
            if language == "fr":
                assert string != msgid, msgid

    @pytest.mark.parametrize("language", LOCALES)
    def test_the_compiled_catalogue_matches_its_source(self, language: str) -> None:
        with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        for msgid, string in _po(language).items():
            if isinstance(msgid, tuple):
                assert isinstance(string, tuple)
                assert compiled.ngettext(msgid[0], msgid[1], 1) == string[0]
                assert compiled.ngettext(msgid[0], msgid[1], 5) == string[1]
            else:
                assert compiled.gettext(str(msgid)) == string

    def test_the_template_lists_every_sentence_of_the_code(self) -> None:
        extracted = {
            message if isinstance(message, str) else tuple(message)
            for _, message, _, _ in extract_from_file(
                "python", str(SOURCE), keywords={"N_": None, "NP_": (1, 2)}
            )
        }
        assert extracted == _sentences()
        with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as f:
            assert {m.id for m in read_po(f) if m.id} == extracted

    def test_the_catalogues_ship_inside_the_package(self) -> None:
        for language in LOCALES:
            assert (
                files("workspace_billing")
                .joinpath(f"locale/{language}/LC_MESSAGES/{DOMAIN}.mo")
                .is_file()
            )


class TestRendering:
    def test_plurals_follow_each_language(self) -> None:
        one = {"seats_used": 1, "seats": 1}
        assert render("seat_limit_reached", one, "en").startswith("1 of 1 licence is used")
        assert render("seat_limit_reached", one, "fr").startswith("1 licence sur 1 est utilisée")

    def test_a_missing_fact_gives_a_plainer_sentence_not_an_error(self) -> None:
        assert render("seat_limit_reached", {}, "fr") == "Cette demande ne peut pas aboutir."

    @pytest.mark.parametrize("locale", [None, "", "xx", "de_DE", 42])
    def test_an_unknown_locale_is_english(self, locale: object) -> None:
        assert render("store_busy", {}, locale) == USER_MESSAGES["store_busy"]  # type: ignore[arg-type]


class TestDisplayNames:
    def test_plans_and_features_carry_translated_names(self) -> None:
        catalog = Catalog.default()
        assert catalog.plan("enterprise").display_name("fr") == "Entreprise"
        assert catalog.plan("enterprise").display_name("fr-CA") == "Entreprise"
        assert catalog.plan("enterprise").display_name("de") == "Enterprise"
        assert catalog.plan("business").display_name("fr") == "Business"
        assert catalog.feature("audit_log").display_name("fr") == "Journal d’audit"
        assert catalog.feature("audit_log").display_name() == "Audit log"
