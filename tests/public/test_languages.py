"""The language of the pages: the browser's (Accept-Language) until the person picks one with the
switch on every page; the choice is kept; `<html lang>` and the hreflang alternates follow."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.public.pages import Page

SPANISH = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}
CATALOGUE = ROOT / "directory" / "translations" / "es" / "LC_MESSAGES" / "messages"


@pytest.fixture(autouse=True)
def compiled_catalogue() -> None:
    """The pages read the compiled catalogue, which the install step makes from messages.po."""
    po, mo = CATALOGUE.with_suffix(".po"), CATALOGUE.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        pytest.fail(f"{mo} is missing or older than messages.po: run scripts/bootstrap.sh", pytrace=False)


def test_english_by_default_and_for_english_browsers(client):
    for headers in ({}, {"Accept-Language": "en-US,en;q=0.9"}, {"Accept-Language": "fr-FR,fr;q=0.9"}):
        page = Page(client.get("/", headers=headers).data)
        assert page.find("html", lang="en")
        assert "Skip to main content" in page.html and "Find treatment" in page.text


def test_a_spanish_browser_gets_spanish(client):
    response = client.get("/medications", headers=SPANISH)

    page = Page(response.data)
    assert page.find("html", lang="es")
    assert "Saltar al contenido principal" in page.html and "Buscar tratamiento" in page.text
    assert "Línea Nacional de Ayuda de SAMHSA" in page.text
    assert {"Accept-Language", "Cookie"} <= set(response.vary)
    assert "lang=" not in response.headers.get("Set-Cookie", "")  # nothing chosen yet: nothing kept


def test_the_switch_keeps_the_page_and_its_query_and_the_choice_is_kept(client):
    page = Page(client.get("/medications?near=Chicago%2C+IL", headers=SPANISH).data)
    english = page.find("a", hreflang="en")
    assert english.attrs["href"] == "/medications?near=Chicago%2C+IL&lang=en"
    assert english.attrs["lang"] == "en" and page.find("span", lang="es").attrs["aria-current"] == "true"

    response = client.get(english.attrs["href"], headers=SPANISH)
    assert Page(response.data).find("html", lang="en")
    assert "lang=en" in response.headers["Set-Cookie"] and "Max-Age=31536000" in response.headers["Set-Cookie"]
    # Kept over the browser's Spanish on the next pages, until the person switches again.
    assert Page(client.get("/", headers=SPANISH).data).find("html", lang="en")
    assert Page(client.get("/?lang=es").data).find("html", lang="es")
    assert Page(client.get("/", headers={"Accept-Language": "en"}).data).find("html", lang="es")


def test_an_unknown_language_is_ignored(client):
    response = client.get("/?lang=xx", headers=SPANISH)
    assert Page(response.data).find("html", lang="es")
    assert "Set-Cookie" not in response.headers
    client.set_cookie("lang", "../xx")
    assert Page(client.get("/").data).find("html", lang="en")


def test_every_page_names_its_alternates_in_each_language(client):
    page = Page(client.get("/medications?near=60601&lang=es").data)
    alternates = {
        element.attrs["hreflang"]: element.attrs["href"]
        for element in page.find_all("link")
        if element.attrs.get("rel") == "alternate"
    }
    assert alternates == {
        "en": "http://localhost/medications?near=60601&lang=en",
        "es": "http://localhost/medications?near=60601&lang=es",
        "x-default": "http://localhost/medications?near=60601",
    }


def test_a_point_searched_is_rounded_in_the_language_links(client):
    page = Page(client.get("/?near=41.886812,-87.617301").data)
    assert "41.886812" not in page.html
    assert page.find("a", hreflang="es").attrs["href"] == "/?near=41.89%2C-87.62&lang=es"
