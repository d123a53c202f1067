"""Referral staff and center staff in Spanish: once a person picks Spanish with the language switch
(`?lang=es`, kept in the `lang` cookie), the sign-in page, the intake form and its messages, the
referral's plan, the portal's offer page and the mail a page sends are in Spanish."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from directory.models.base import utcnow
from tests.auth.helpers import outbox
from tests.conftest import ROOT
from tests.factories import make_user
from tests.portal.conftest import sign_in
from tests.public.pages import Page
from tests.staff.scenario import intake_form, offers, submit

CATALOGUE = ROOT / "directory" / "translations" / "es" / "LC_MESSAGES" / "messages"


@pytest.fixture(autouse=True)
def compiled_catalogue() -> None:
    """The pages read the compiled catalogue, which the install step makes from messages.po."""
    po, mo = CATALOGUE.with_suffix(".po"), CATALOGUE.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        pytest.fail(f"{mo} is missing or older than messages.po: run scripts/bootstrap.sh", pytrace=False)


def choose_spanish(client) -> None:
    """Pick Spanish with the switch, as a person would; the choice is kept for the next pages."""
    response = client.get("/login?lang=es")
    assert "lang=es" in response.headers["Set-Cookie"]


def spanish_page(response) -> Page:
    page = Page(response.data)
    assert page.find("html", lang="es")
    return page


def test_the_sign_in_page_and_its_messages_are_in_spanish(client, session):
    make_user(session, email="worker@example.org")
    choose_spanish(client)

    page = spanish_page(client.get("/login"))
    assert "Iniciar sesión" in page.text and "¿Olvidó su contraseña?" in page.text
    assert "Correo electrónico" in page.text and "Contraseña" in page.text
    assert "Sign in" not in page.main().text

    response = client.post("/login", data={"email": "worker@example.org", "password": "not the password"})
    assert response.status_code == 400
    assert "El correo electrónico o la contraseña no son correctos." in spanish_page(response).text
    response = client.post("/login", data={"email": "", "password": ""})
    assert "Escriba su correo electrónico." in spanish_page(response).text


def test_a_password_reset_asked_for_in_spanish_is_mailed_in_spanish(app, client, session):
    make_user(session, email="forgetful@example.org")
    choose_spanish(client)

    response = client.post("/password/forgot", data={"email": "forgetful@example.org"})
    assert "Revise su correo electrónico" in spanish_page(response).text

    [mail] = outbox(app)
    assert mail["Subject"] == "Restablezca su contraseña del Directorio de Tratamiento"
    body = mail.get_content()
    assert "Elija una contraseña nueva aquí:" in body and "vence en 1 hora" in body
    assert "/password/reset/" in body and "Choose a new password" not in body


def test_the_intake_form_and_its_checks_are_in_spanish(client, store, scene):
    sign_in(client, scene.referrer)
    choose_spanish(client)

    page = spanish_page(client.get("/referrals/new"))
    assert "Nueva derivación" in page.text and "Datos clínicos" in page.text
    assert "Desintoxicación médica" not in page.text  # not a label of this form
    assert "Opioide principal" in page.text and "Heroína" in page.text
    assert "Consentimiento para compartir (42 CFR Parte 2)" in page.text
    assert "Enviar la derivación" in page.text

    response = client.post("/referrals/new", data=intake_form(payment="", max_distance_miles="900"))
    assert response.status_code == 400
    page = spanish_page(response)
    assert "La derivación no se envió: revise estos campos" in page.text
    assert "Elija cómo paga la persona." in page.text  # the form's own message
    assert "Un número de millas de 1 a 500." in page.text  # the shared checks' message
    assert "A number of miles" not in page.text


def test_the_referral_page_shows_the_plan_in_spanish(client, store, scene):
    sign_in(client, scene.referrer)
    choose_spanish(client)
    referral = submit(client, store)

    page = spanish_page(client.get(f"/referrals/{referral.id}")).main()
    assert "Derivación CASE-1042" in page.text
    assert "Desintoxicación médica" in page.text and "Programa de naltrexona" in page.text
    assert "Se requieren pruebas hepáticas iniciales" in page.text and "Interacción: alcohol" in page.text
    assert "Riesgo de sobredosis después de la desintoxicación" in page.text
    assert "ofrece desintoxicación médica" in page.text  # a reason stored with the plan, shown translated
    assert "Este plan es una propuesta para los profesionales clínicos" in page.text
    assert "Último consumo de opioides" in page.text and "(opioide de acción corta)" in page.text
    assert "Historial" in page.text and "Cancelar esta derivación" in page.text
    assert "Baseline liver tests" not in page.text and "Why this center" not in page.text


def test_the_timeline_names_the_router_in_spanish(client, store, scene):
    sign_in(client, scene.referrer)
    choose_spanish(client)
    referral = submit(client, store)

    page = spanish_page(client.get(f"/referrals/{referral.id}"))
    timeline = re.search(r'aria-label="Historial"[^>]*>(.*?)</table>', page.html, re.S)
    assert timeline, "no timeline"
    rows = re.findall(r"<tr>(.*?)</tr>", timeline.group(1), re.S)[1:]
    by = {Page(re.findall(r"<td>(.*?)</td>", row, re.S)[2]).text for row in rows}
    assert by == {"sistema automático", scene.referrer.email}  # a person is named by their address


def test_the_portal_offer_page_is_in_spanish(app, client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    (detox_offer,) = offers(store, referral.id)

    center_client = app.test_client()
    sign_in(center_client, scene.detox_staff)
    choose_spanish(center_client)
    page = spanish_page(center_client.get(f"/portal/offers/{detox_offer.id}")).main()
    assert "Oferta de Desintoxicación médica a Lakeside Detox" in page.text
    assert "Alertas para los profesionales clínicos" in page.text and "Por qué su centro" in page.text
    assert "Aceptar la derivación" in page.text and "Rechazar la derivación" in page.text
    assert "Fecha de admisión" in page.text

    response = center_client.post(f"/portal/offers/{detox_offer.id}/accept", data={"admission_date": ""})
    page = spanish_page(center_client.get(response.headers["Location"]))
    assert "La oferta no se aceptó." in page.text
    assert "Fecha de admisión: Indique la fecha en que la persona puede ser admitida (AAAA-MM-DD)." in page.text

    admission = utcnow().date() + timedelta(days=1)
    response = center_client.post(
        f"/portal/offers/{detox_offer.id}/accept", data={"admission_date": admission.isoformat()}
    )
    page = spanish_page(center_client.get(response.headers["Location"]))
    assert f"Aceptada: admisión el {admission.isoformat()}." in page.text


def test_english_stays_the_default_for_staff_pages(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    page = Page(client.get(f"/referrals/{referral.id}").data)
    assert page.find("html", lang="en")
    assert "Baseline liver tests required" in page.text and "offers medical detox" in page.text
    assert "Last opioid use" in page.text and "(short-acting opioid)" in page.text
