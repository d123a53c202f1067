"""The language of the pages: the browser's (Accept-Language) until the person picks one with the
switch on every page; the choice is kept; `<html lang>` and the hreflang alternates follow."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from directory.models import Center
from tests.conftest import ROOT
from tests.factories import add_centers, center_record
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


@pytest.fixture
def center_slug(session) -> str:
    add_centers(
        session,
        center_record(
            name="Centro Uno",
            source="findtreatment-gov",
            source_date=date(2026, 8, 19),
            levels_of_care=["medical_detox", "outpatient"],
            payment_options=["medicaid", "sliding_scale"],
            medications=["naltrexone_injectable", "buprenorphine"],
            languages=["es"],
            detox_substances=["opioids"],
        ),
    )
    return session.scalar(select(Center.slug).where(Center.name == "Centro Uno"))


def test_home_results_and_profile_in_spanish(client, center_slug):
    home = Page(client.get("/", headers=SPANISH).data)
    assert home.find("html", lang="es")
    assert "Encuentre tratamiento para adicciones cerca de usted" in home.text
    assert "Código postal o ciudad" in home.text and "Desintoxicación médica" in home.text

    results = Page(client.get("/search?near=60601&level_of_care=medical_detox", headers=SPANISH).data)
    assert results.find("html", lang="es")
    assert "Centros de tratamiento cerca de 60601 (Chicago, IL)" in results.text
    assert "1 centro a menos de 25 millas de 60601 (Chicago, IL)" in results.text
    assert "Nivel de atención: Desintoxicación médica" in results.text  # the filter, with its label
    assert "Medicaid; Tarifa escalonada (según los ingresos)" in results.text
    assert "Publicado en FindTreatment.gov, agosto de 2026" in results.text
    assert "Información sobre buprenorfina y naltrexona" in results.text

    profile_link = results.main().link("Ver el perfil de Centro Uno")
    profile = Page(client.get(profile_link.href, headers=SPANISH).data)
    assert profile.find("html", lang="es")
    assert f"/centers/{center_slug}" in profile_link.href
    assert "Contacto y ubicación" in profile.text and "Volver a sus resultados" in profile.text
    assert "Naltrexona inyectable (Vivitrol)" in profile.text and "Español" in profile.text
    assert "Desintoxicación de: Opioides" in profile.text
    assert "Publicado en FindTreatment.gov, agosto de 2026. No confirmado por el centro: llame para confirmar." in (
        profile.text
    )
    assert "Se desconoce: el centro no lo ha indicado. Llame para preguntar." in profile.text


def test_the_same_pages_stay_in_english_by_default(client, center_slug):
    results = Page(client.get("/search?near=60601&level_of_care=medical_detox").data)
    assert "1 center within 25 miles of 60601 (Chicago, IL)" in results.text
    assert "Level of care: Medical detox (24-hour medically monitored withdrawal)" in results.text
    assert "Listed on FindTreatment.gov, August 2026" in results.text
    profile = Page(client.get(f"/centers/{center_slug}").data)
    assert "Listed on FindTreatment.gov, August 2026. Not confirmed by the center: call to confirm." in profile.text


def test_a_place_not_found_is_explained_in_spanish(client):
    response = client.get("/search?near=Springfeld%2C+IL", headers=SPANISH)
    page = Page(response.data)
    assert response.status_code == 400
    assert page.find("html", lang="es") and "Por favor, revise su búsqueda" in page.text
    assert 'No encontramos ninguna ciudad llamada "Springfeld" en Illinois. ¿Quiso decir Springfield, IL?' in page.text
    missing = Page(client.get("/search?near=", headers=SPANISH).data)
    assert "Escriba un código postal o una ciudad y estado." in missing.text


def test_error_pages_and_the_report_form_in_spanish(client, center_slug):
    page = Page(client.get("/no/such/page", headers=SPANISH).data)
    assert page.find("html", lang="es") and "No hay ninguna página en esta dirección." in page.text
    assert "Error 404" in page.text

    response = client.post(f"/centers/{center_slug}/report", data={"reason": "other"}, headers=SPANISH)
    report = Page(response.data)
    assert response.status_code == 400
    assert "El informe no se envió" in report.text
    assert "Diga en pocas palabras qué está mal (“Otra cosa” requiere una nota)." in report.text
    response = client.post(f"/centers/{center_slug}/report", data={}, headers=SPANISH)
    assert (
        "Elija qué está mal: el número de teléfono es incorrecto, el centro cerró, los servicios que aparecen son "
        "incorrectos u otra cosa." in Page(response.data).text
    )
    response = client.post(
        f"/centers/{center_slug}/report", data={"reason": "closed"}, headers=SPANISH, follow_redirects=True
    )
    assert "Gracias. Su informe se envió al centro y a los administradores del directorio." in Page(response.data).text


def test_the_apis_answer_in_english_whatever_the_browser_says(client, center_slug):
    response = client.get("/api/v1/centers/search?near=Springfeld%2C+IL", headers=SPANISH)
    assert response.status_code == 400
    assert "We could not find a town called" in response.get_data(as_text=True)
    assert "Accept-Language" not in response.vary
