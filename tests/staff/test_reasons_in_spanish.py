"""Texts with values in Spanish: a referral's plan reasons ("a 0.4 millas", "acepta: Medicaid"), its
status and timeline reasons naming a center, and the shared checks' messages on the intake form and
the portal's forms. They are stored or answered in English (the API reads them so), and shown in
the person's language; a plan stored without their translatable form shows them in English."""

from __future__ import annotations

import re

from directory.models import Center, Referral
from directory.referrals.presenters import referral_view
from directory.referrals.service import PLAN_MESSAGES
from tests.factories import days_from_today
from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page
from tests.staff.scenario import intake_form, offers, submit
from tests.staff.test_in_spanish import choose_spanish, compiled_catalogue, spanish_page

__all__ = ["compiled_catalogue"]  # the catalogue check runs before each test here too


def reasons(page: Page) -> list[str]:
    """The reasons listed on a page (every "why this center" list)."""
    lists = re.findall(r'<ul class="plan-why">(.*?)</ul>', page.html, re.S)
    return [Page(item).text for items in lists for item in re.findall(r"<li>(.*?)</li>", items, re.S)]


def with_beds(store, center: Center, beds: int) -> None:
    with store.session() as session:
        session.get(Center, center.id).beds_available = beds
        session.commit()


def test_a_routed_referrals_reasons_are_in_spanish_and_stored_in_english(client, store, scene):
    with_beds(store, scene.near_detox, 3)
    sign_in(client, scene.referrer)
    choose_spanish(client)
    referral = submit(client, store, language="es")

    page = spanish_page(client.get(f"/referrals/{referral.id}")).main()
    shown = reasons(page)
    assert "ofrece desintoxicación médica" in shown
    assert any(re.fullmatch(r"a \d+\.\d millas", reason) for reason in shown), shown
    assert "acepta: Medicaid" in shown
    assert "3 camas disponibles según el centro" in shown
    assert "no indica el idioma: Español" in shown  # the vocabulary's label translated inside the sentence
    assert "Ofrecida a Lakeside Detox (desintoxicación)." in page.text  # the status reason
    assert "Ofrecida a Lakeside Detox." in page.text  # the timeline's
    assert "miles away" not in page.text and "Offered to" not in page.text and "takes Medicaid" not in page.text
    calls = spanish_page(client.get(f"/referrals/{referral.id}/calls")).main()
    assert "Ofrecida a Lakeside Detox (desintoxicación)." in calls.text

    with store.session() as session:
        stored = session.get(Referral, referral.id)
        assert "takes Medicaid" in stored.plan["detox"]["why"]
        assert "3 beds reported available" in stored.plan["detox"]["why"]
        assert "no Spanish listed" in stored.plan["detox"]["why"]
        assert stored.status_reason == "Offered to Lakeside Detox (detox)."
        answer = referral_view(stored)  # what the API answers
        assert "takes Medicaid" in answer["plan"]["detox"]["why"] and PLAN_MESSAGES not in answer["plan"]
        assert answer["status_reason"] == "Offered to Lakeside Detox (detox)."


def test_a_plan_stored_without_its_messages_shows_its_reasons_in_english(client, store, scene):
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    with store.session() as session:
        stored = session.get(Referral, referral.id)
        stored.plan = {key: value for key, value in stored.plan.items() if key != PLAN_MESSAGES}
        session.commit()

    choose_spanish(client)
    page = spanish_page(client.get(f"/referrals/{referral.id}")).main()
    assert "ofrece desintoxicación médica" in page.text  # a marked constant still translates
    assert "takes Medicaid" in page.text and "Offered to Lakeside Detox (detox)." in page.text


def test_the_portal_offer_page_shows_the_reasons_in_spanish(app, client, store, scene):
    with_beds(store, scene.near_detox, 2)
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    (detox_offer,) = offers(store, referral.id)

    center_client = app.test_client()
    sign_in(center_client, scene.detox_staff)
    choose_spanish(center_client)
    for url in (f"/portal/offers/{detox_offer.id}", "/portal/offers"):
        shown = reasons(spanish_page(center_client.get(url)))
        assert "acepta: Medicaid" in shown and "2 camas disponibles según el centro" in shown, url
        assert any(re.fullmatch(r"a \d+\.\d millas", reason) for reason in shown), shown

    admission = {"admission_date": days_from_today(3)}
    center_client.post(f"/portal/offers/{detox_offer.id}/accept", data=admission)
    response = center_client.post(f"/portal/offers/{detox_offer.id}/accept", data=admission)
    page = spanish_page(center_client.get(response.headers["Location"]))
    assert "Esta oferta ya no se puede aceptar (estado: aceptada)." in page.text  # a service error with a value

    page = spanish_page(client.get(f"/referrals/{referral.id}?lang=es")).main()
    assert "Lakeside Detox aceptó la derivación a desintoxicación." in page.text
    assert f"Admisión el {admission['admission_date']}." in page.text


def test_a_partial_match_says_what_it_misses_in_spanish(client, store, scene):
    sign_in(client, scene.referrer)
    choose_spanish(client)
    referral = submit(client, store, payment="private_insurance")

    page = spanish_page(client.get(f"/referrals/{referral.id}")).main()
    assert "no indica que acepte: Seguro médico privado" in page.text
    assert "does not list" not in page.text


def test_the_intake_forms_phone_check_is_in_spanish(client, store, scene):
    sign_in(client, scene.referrer)
    choose_spanish(client)
    response = client.post("/referrals/new", data=intake_form(contact_phone="555-0100"))
    assert response.status_code == 400
    page = spanish_page(response)
    assert "No es un número de teléfono de EE. UU. de 10 dígitos, por ejemplo (334) 673-2143" in page.text
    assert "10-digit" not in page.text


def test_the_portals_listing_checks_are_in_spanish(client, store, scene):
    sign_in(client, scene.detox_staff)
    choose_spanish(client)
    center = scene.near_detox
    data = edit_data(center, phone="555-0100", detox_stay_days="0", name=" ")
    response = client.post(f"/portal/centers/{center.id}/edit", data=data)
    assert response.status_code == 400
    page = spanish_page(response)
    assert "“555-0100”: no es un número de teléfono de EE. UU. de 10 dígitos" in page.text_of("phone-error")
    assert "“0”: debe ser un número entero de 1 a 365." in page.text_of("detox_stay_days-error")
    assert "Nombre: es obligatorio." in page.text_of("name-error")
    assert "10-digit" not in page.text

    response = client.post(
        f"/portal/centers/{center.id}/capacity", data={"accepting_referrals": "true", "beds_available": "ten"}
    )
    assert response.status_code == 400
    page = spanish_page(response)
    assert "“ten”: debe ser un número entero de 0 a 10000." in page.text
    assert "whole number" not in page.text


def test_english_pages_keep_the_english_texts(client, store, scene):
    with_beds(store, scene.near_detox, 3)
    sign_in(client, scene.referrer)
    referral = submit(client, store)
    page = Page(client.get(f"/referrals/{referral.id}").data).main()
    assert "takes Medicaid" in page.text and "3 beds reported available" in page.text
    assert "Offered to Lakeside Detox (detox)." in page.text and "Offered to Lakeside Detox." in page.text
    response = client.post("/referrals/new", data=intake_form(contact_phone="555-0100"))
    assert "Is not a 10-digit US phone number, e.g. (334) 673-2143 or 334-673-2143 x114." in Page(response.data).text
