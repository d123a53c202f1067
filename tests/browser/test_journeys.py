"""The site in a real browser, at desktop and phone sizes: a person searching, referral staff and
center staff at work. Every page on the way is checked with axe-core and kept as a screenshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from sqlalchemy import select

from directory.models import Center, User
from directory.models.base import utcnow
from directory.routing.rules import earliest_naltrexone_start
from tests.browser.browser import Browser
from tests.factories import add_centers, center_record
from tests.portal.conftest import Store, account

CHICAGO = ZoneInfo("America/Chicago")

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class People:
    referrer: str
    detox_staff: str
    clinic_staff: str


@pytest.fixture
def people(site: Flask) -> People:
    """A few real-looking Chicago-area centers, and the accounts of the people who work with them."""
    store = Store(site)
    with store.session() as session:
        add_centers(
            session,
            center_record(
                external_id="test:lakeshore",
                name="Lakeshore Medical Detox",
                street1="211 E Ontario St",
                city="Chicago",
                zip="60611",
                phone="(312) 555-0141",
                latitude=41.8932,
                longitude=-87.6213,
                levels_of_care=["medical_detox", "residential_short"],
                payment_options=["medicaid", "medicare", "private_insurance"],
                languages=["es"],
                detox_stay_days=5,
            ),
            center_record(
                external_id="test:northbranch",
                name="North Branch Detox Center",
                street1="2500 N Clybourn Ave",
                city="Chicago",
                zip="60614",
                phone="(773) 555-0177",
                latitude=41.9271,
                longitude=-87.6707,
                levels_of_care=["medical_detox"],
                payment_options=["medicaid", "self_pay"],
            ),
            center_record(
                external_id="test:riverside",
                name="Riverside Recovery Clinic",
                street1="400 W Randolph St",
                street2="Suite 300",
                city="Chicago",
                zip="60606",
                phone="(312) 555-0123",
                website="https://riverside-recovery.example.org",
                latitude=41.8846,
                longitude=-87.6386,
                levels_of_care=["outpatient", "intensive_outpatient"],
                medications=["naltrexone_injectable", "naltrexone_oral", "buprenorphine"],
                payment_options=["medicaid", "private_insurance", "sliding_scale"],
                populations=["adults", "co_occurring"],
                languages=["es"],
                accepting_referrals=True,
            ),
            center_record(
                external_id="test:loop",
                name="Loop Wellness Counseling",
                street1="55 E Monroe St",
                city="Chicago",
                zip="60603",
                phone="(312) 555-0188",
                latitude=41.8807,
                longitude=-87.6256,
                levels_of_care=["outpatient"],
                medications=["naltrexone_oral"],
                payment_options=["self_pay", "private_insurance"],
            ),
            center_record(
                external_id="test:southloop",
                name="South Loop Outpatient Services",
                street1="1200 S Michigan Ave",
                city="Chicago",
                zip="60605",
                phone="(312) 555-0166",
                latitude=41.8669,
                longitude=-87.6244,
                levels_of_care=["outpatient"],
                payment_options=["medicaid", "self_pay"],
            ),
            center_record(
                external_id="test:rockford",
                name="Rock River Recovery",
                street1="120 N Main St",
                city="Rockford",
                zip="61101",
                phone="(815) 555-0110",
                latitude=42.2711,
                longitude=-89.0940,
                levels_of_care=["outpatient"],
                medications=["naltrexone_injectable"],
                payment_options=["medicaid"],
            ),
        )
        ids = dict(session.execute(select(Center.external_id, Center.id)).all())
        return People(
            referrer=account(session, "referral_staff", [], "intake@northwestern-er.example.org"),
            detox_staff=account(session, "center_staff", [ids["test:lakeshore"]], "admissions@lakeshore.example.org"),
            clinic_staff=account(session, "center_staff", [ids["test:riverside"]], "intake@riverside.example.org"),
        )


def test_a_person_searches_by_zip_with_filters_opens_a_profile_and_reads_about_naltrexone(
    browser: Browser, people: People
) -> None:
    browser.open("/")
    assert browser.heading == "Find addiction treatment near you"
    # locate.js (a same-origin script, allowed by the CSP) shows "Use my location" on this secure origin.
    assert browser.driver.find_element(By.ID, "use-location").is_displayed()
    # The CSP stops inline script; axe-core, injected through WebDriver, runs all the same.
    assert not browser.inline_script_runs()
    browser.check("home")

    browser.fill("ZIP code or town", "60601")
    browser.tick("Naltrexone (oral or injection)")
    browser.tick("Medicaid")
    browser.press("Search")
    assert browser.heading == "Treatment centers near 60601 (Chicago, IL)"
    assert "1 center within 25 miles of 60601 (Chicago, IL)" in browser.text
    assert "Filtered by:" in browser.text
    results = browser.main.find_elements(By.CSS_SELECTOR, "ol.results > li")
    assert [r.find_element(By.TAG_NAME, "h2").text for r in results] == ["Riverside Recovery Clinic"]
    (result,) = results
    assert "1.1 miles away · 400 W Randolph St, Suite 300, Chicago, IL 60606" in result.text
    assert "Call (312) 555-0123" in result.text
    for excluded in ("Loop Wellness Counseling", "Rock River Recovery", "Lakeshore Medical Detox"):
        assert excluded not in browser.text
    browser.check("results")

    browser.follow("Riverside Recovery Clinic", within=result)
    assert browser.heading == "Riverside Recovery Clinic"
    assert "400 W Randolph St Suite 300 Chicago, IL 60606" in browser.fact("Address").replace("\n", " ")
    assert browser.fact("Phone") == "(312) 555-0123"
    assert browser.fact("Accepting referrals") == "Yes"
    assert "Naltrexone injection (Vivitrol)" in browser.text and "Spanish" in browser.text
    assert "1.1 miles from 60601 (Chicago, IL) · Back to your results" in browser.text
    browser.check("profile")

    browser.follow("Back to your results")  # the same results, filters kept
    assert browser.heading == "Treatment centers near 60601 (Chicago, IL)"
    assert "1 center within 25 miles" in browser.text and "Payment: Medicaid" in browser.text
    browser.follow("Riverside Recovery Clinic")
    browser.follow("What to know about buprenorphine and naltrexone treatment")
    assert browser.heading == "Medications for opioid use disorder: what to know"
    assert "7 days after short-acting opioids" in browser.text
    assert "not medical advice" in browser.text
    browser.follow("Search for centers offering naltrexone (pill or injection) near 60601")  # the place kept
    assert browser.heading == "Treatment centers near 60601 (Chicago, IL)"
    browser.check("results-from-medications")


def test_the_intake_form_shows_the_opioid_questions_that_apply(browser: Browser, people: People) -> None:
    browser.open("/")
    browser.sign_in(people.referrer)
    browser.follow("Referrals", within=browser.nav)
    browser.follow("New referral")
    recent = browser.field_group("Alcohol alone: any opioid use in the last 10 days?")

    def shown() -> tuple[bool, bool]:
        return recent.is_displayed(), browser.field("Last opioid use").is_displayed()

    assert shown() == (False, False)  # until the referral says what it is for
    browser.tick("Alcohol use disorder")
    assert shown() == (True, False)
    browser.tick("Yes", within=recent)  # opioids lately: their last use counts, if known
    assert shown() == (True, True)
    browser.check("intake-alcohol")
    browser.tick("No", within=recent)
    assert shown() == (True, False)
    browser.tick("Opioid use disorder")  # both: the opioid questions, not the 10-day one
    assert shown() == (False, True)


def test_signed_in_the_language_switch_is_a_button_that_sets_the_language_of_your_email(
    browser: Browser, people: People, site: Flask
) -> None:
    browser.open("/")
    browser.sign_in(people.referrer)
    browser.follow("Referrals", within=browser.nav)
    switch = browser.driver.find_element(By.CSS_SELECTOR, "header nav.language-switch")
    assert not switch.find_elements(By.TAG_NAME, "a")
    browser.press("Español", within=switch)  # a form with its CSRF token, back to the same page
    assert browser.path == "/referrals/?lang=es"
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    assert "El correo electrónico del directorio le llegará en Español." in browser.text
    browser.check("referrals-es-signed-in")
    with Store(site).session() as session:
        assert session.scalar(select(User.language).where(User.email == people.referrer)) == "es"


def test_a_person_switches_to_spanish_and_searches_opens_a_profile_and_reads_about_the_medications(
    browser: Browser, people: People
) -> None:
    browser.open("/")
    switch = browser.driver.find_element(By.CSS_SELECTOR, "header nav.language-switch")
    browser.follow("Español", within=switch)
    assert browser.heading == "Encuentre tratamiento para adicciones cerca de usted"
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    browser.check("home-es")

    browser.fill("Código postal o ciudad", "60601")
    browser.tick("Naltrexona (oral o inyectable)")
    browser.tick("Medicaid")
    browser.press("Buscar")
    assert browser.heading == "Centros de tratamiento cerca de 60601 (Chicago, IL)"
    assert "1 centro a menos de 25 millas de 60601 (Chicago, IL)" in browser.text
    assert "Filtrado por:" in browser.text and "Medicamento: Naltrexona (oral o inyectable) Quitar" in browser.text
    (result,) = browser.main.find_elements(By.CSS_SELECTOR, "ol.results > li")
    assert (
        "a 1.1 millas ·" in result.text and "Chicago, IL" in result.text and "Llamar al (312) 555-0123" in result.text
    )
    browser.check("results-es")

    browser.follow("Riverside Recovery Clinic", within=result)  # the choice is kept from page to page
    assert browser.heading == "Riverside Recovery Clinic"
    assert browser.fact("Acepta derivaciones") == "Sí"
    assert "Naltrexona inyectable (Vivitrol)" in browser.text and "Español" in browser.text
    assert "a 1.1 millas de 60601 (Chicago, IL) · Volver a sus resultados" in browser.text
    browser.check("profile-es")

    browser.follow("Lo que debe saber sobre el tratamiento con buprenorfina y naltrexona")
    assert browser.heading == "Medicamentos para el trastorno por consumo de opioides: lo que debe saber"
    assert "7 días después de opioides de acción corta" in browser.text
    browser.check("medications-es")

    switch = browser.driver.find_element(By.CSS_SELECTOR, "header nav.language-switch")
    browser.follow("English", within=switch)  # the same page, in English
    assert browser.heading == "Medications for opioid use disorder: what to know"
    assert browser.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"


def test_a_referral_from_intake_to_accepted_and_capacity_shown_on_the_profile(browser: Browser, people: People) -> None:
    browser.open("/")
    browser.sign_in(people.referrer, check_page="login")
    browser.follow("Referrals", within=browser.nav)
    browser.follow("New referral")
    assert browser.heading == "New referral"
    browser.check("intake")

    now = utcnow()
    last_use = (now - timedelta(days=2)).replace(second=0, microsecond=0)
    browser.fill("Client reference", "ER-2291")
    browser.fill("Contact phone (optional)", "(312) 555-0199")
    browser.fill("Where the person is", "60601")
    browser.choose("Payment", "Medicaid")
    assert not browser.field("Primary opioid").is_displayed()  # intake.js: asked once opioids are named
    browser.tick("Opioid use disorder")
    browser.choose("Primary opioid", "Heroin")
    # time-zone.js chose the browser's own zone; the referrer picks Chicago and types Chicago's time.
    browser_zone = browser.driver.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert browser.field("Time zone").get_attribute("value") == browser_zone
    browser.choose("Time zone", "America/Chicago")
    local_use = last_use.replace(tzinfo=UTC).astimezone(CHICAGO)
    browser.set_value("Last opioid use", local_use.strftime("%Y-%m-%dT%H:%M"))
    browser.tick("Not known", within=browser.field_group("Liver disease"))
    browser.tick("No", within=browser.field_group("Needs opioid pain medication"))
    browser.tick("Alcohol")
    browser.tick("The person consents to share this referral with receiving treatment centers")
    browser.press("Send the referral")

    assert browser.heading == "Referral ER-2291"
    assert browser.fact("Status") == "Offered to a detox center"
    detox = browser.main.find_element(By.CSS_SELECTOR, "section[aria-labelledby='step-medical-detox']")
    naltrexone = browser.main.find_element(By.CSS_SELECTOR, "section[aria-labelledby='step-naltrexone-program']")
    assert browser.fact("Center", within=detox) == "Lakeshore Medical Detox"
    assert browser.fact("Offer", within=detox) == "Waiting for an answer"
    assert browser.fact("Center", within=naltrexone) == "Riverside Recovery Clinic"
    earliest = earliest_naltrexone_start(last_use, "heroin", CHICAGO)  # 7 days on, rounded up to a whole day there
    assert earliest == (local_use + timedelta(days=8)).date()
    explained = f"Last opioid use {local_use.day} {local_use:%b %H:%M} + 7 days (short-acting opioid): from "
    assert browser.fact("Earliest naltrexone start", within=naltrexone).split("\n") == [
        earliest.isoformat(),
        f"{explained}{earliest.day} {earliest:%b}",
    ]
    assert "Baseline liver tests required" in browser.text and "Interaction: alcohol" in browser.text
    assert [row[1] for row in browser.table_rows("Timeline")][-1:] == ["Referral: offered to a detox center"]
    browser.check("referral-offered")
    browser.sign_out()

    browser.sign_in(people.detox_staff)
    browser.follow("Offers", within=browser.nav)
    assert "Medical detox at Lakeshore Medical Detox" in browser.text
    browser.check("portal-offers")
    browser.follow("Medical detox at Lakeshore Medical Detox")
    assert browser.heading == "Medical detox offer to Lakeshore Medical Detox"
    assert browser.fact("Payment") == "Medicaid"
    assert "ER-2291" not in browser.text  # the case number and phone are shared once the center accepts
    browser.check("portal-offer")
    admission = (now + timedelta(days=1)).date().isoformat()
    browser.set_value("Admission date", admission)
    browser.press("Accept the referral")
    assert f"Accepted: admission on {admission}." in browser.text
    assert browser.fact("Status") == "Accepted"
    assert browser.fact("Referrer's case number") == "ER-2291"

    browser.follow("Portal", within=browser.nav)
    assert browser.heading == "Center portal"
    browser.check("portal")
    capacity = browser.main.find_element(By.CSS_SELECTOR, "form[aria-label='Capacity of Lakeshore Medical Detox']")
    browser.tick("No", within=capacity)
    browser.fill("Beds available", "3", within=capacity)
    browser.press("Update capacity", within=capacity)
    assert "Capacity updated for Lakeshore Medical Detox: not accepting referrals, beds available 3." in browser.text
    browser.check("portal-capacity-updated")
    browser.sign_out()

    browser.sign_in(people.referrer)
    browser.follow("Referrals", within=browser.nav)
    browser.follow("ER-2291")
    assert browser.fact("Status") == "Accepted for detox"
    timeline = [row[1] for row in browser.table_rows("Timeline")]
    assert "Medical detox offer: accepted" in timeline and "Referral: accepted for detox" in timeline
    assert timeline.index("Referral: offered to a detox center") < timeline.index("Referral: accepted for detox")
    offers = browser.table_rows("Offers")
    assert offers[0][:3] == ["Medical detox", "Lakeshore Medical Detox", "Accepted"]
    assert f"Admission {admission}" in offers[0][5]
    assert offers[1][:3] == ["Naltrexone program", "Riverside Recovery Clinic", "Waiting for an answer"]
    browser.check("referral-accepted")
    browser.follow("Outcomes", within=browser.nav)
    assert browser.heading == "Referral outcomes"
    acceptance = browser.table_rows("How long referrals wait")[2]  # the third measure: time to acceptance
    assert acceptance[2] == "1"  # one referral accepted in the weeks covered
    browser.check("referral-outcomes")
    browser.sign_out()

    browser.open("/search?near=60611&level_of_care=medical_detox")
    result = browser.main.find_element(
        By.XPATH, "//ol[@class='results']/li[.//h2[normalize-space()='Lakeshore Medical Detox']]"
    )
    browser.follow("Lakeshore Medical Detox", within=result)
    assert browser.fact("Accepting referrals") == "No"
    assert browser.fact("Beds available") == "3"
    browser.check("profile-after-capacity")
