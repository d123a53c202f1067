"""A center's profile: every field in plain words, where the listing comes from, directions."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.models.base import utcnow
from tests.factories import add_centers, center_record
from tests.public.pages import Page


def profile(client, session, **fields) -> Page:
    """Add one center and fetch its profile."""
    add_centers(session, center_record(name="Profiled Center", **fields))
    slug = session.scalar(select(Center.slug).where(Center.name == "Profiled Center"))
    response = client.get(f"/centers/{slug}")
    assert response.status_code == 200
    return Page(response.data)


def long_date(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def test_the_profile_shows_every_field_in_plain_words(client, session):
    page = profile(
        client,
        session,
        alt_name="Northside Clinic",
        street1="100 Lake Shore Drive",
        street2="Suite 5",
        city="Chicago",
        state="IL",
        zip="60611",
        phone="(312) 555-0100",
        intake_phone="(312) 555-0199 ext. 7",
        website="https://profiled.example.org/intake",
        latitude=41.9,
        longitude=-87.62,
        levels_of_care=["medical_detox", "residential_short"],
        payment_options=["medicaid", "free_care"],
        medications=["naltrexone_oral", "buprenorphine"],
        populations=["veterans", "pregnant_postpartum"],
        languages=["es", "asl"],
        accepting_referrals=False,
        beds_available=4,
        detox_stay_days=5,
    )
    text = page.text

    assert page.first_text("h1") == "Profiled Center"
    assert "Also listed as Northside Clinic" in text
    assert "100 Lake Shore Drive Suite 5 Chicago, IL 60611" in text
    assert page.link("(312) 555-0100").href == "tel:+1-312-555-0100"
    assert page.link("(312) 555-0199 ext. 7").href == "tel:+1-312-555-0199;ext=7"
    assert page.link("profiled.example.org").href == "https://profiled.example.org/intake"
    for words in [
        "Medical detox (24-hour medically monitored withdrawal)",
        "Short-term residential (30 days or less)",
        "Medicaid",
        "Free care (no payment accepted)",
        "Naltrexone (oral)",
        "Buprenorphine",
        "Veterans",
        "Pregnant or postpartum women",
        "Spanish",
        "Services for the deaf and hard of hearing (incl. sign language)",
        "Accepting referrals No",
        "Beds available 4",
        "Typical detox stay 5 days",
    ]:
        assert words in text, words
    for code in ["medical_detox", "free_care", "naltrexone_oral", "pregnant_postpartum", "asl"]:
        assert code not in text
    (about,) = page.main().links_to("/medications")  # a center offering medications links to the explainer
    assert about.href == "/medications#buprenorphine"
    assert about.text == "What to know about buprenorphine and naltrexone treatment"


def test_the_profile_says_what_is_not_reported(client, session):
    page = profile(client, session, medications=[], populations=[], languages=[], website=None)

    assert "Beds available Not reported – ask the center" in page.text
    assert "Typical detox stay Not reported – ask the center" in page.text
    assert "Accepting referrals Unknown: the center has not said. Call to ask." in page.text
    assert not page.main().links_to("/medications")
    assert "Website" not in page.text


def test_the_profile_links_to_directions_by_coordinates(client, session):
    page = profile(client, session, latitude=41.8855, longitude=-87.6217)

    link = page.link("directions")
    assert link.href == "https://www.openstreetmap.org/directions?to=41.8855,-87.6217"
    assert not page.find_all("iframe"), "no embedded map"


def test_an_unconfirmed_2015_listing_says_to_call_to_confirm(client, session):
    page = profile(client, session, source="samhsa-nssats-2015", source_vintage=2015)

    assert "SAMHSA national directory, 2015. Not confirmed by the center: call to confirm." in page.text


def test_a_confirmed_listing_gives_the_date(client, session):
    confirmed = utcnow() - timedelta(days=20)

    page = profile(client, session, source="samhsa-nssats-2015", source_vintage=2015, last_verified_at=confirmed)

    assert f"Confirmed by the center on {long_date(confirmed)}." in page.text
    assert "call to confirm" not in page.text


def test_a_center_confirming_its_listing_changes_the_statement(client, session):
    add_centers(session, center_record(name="Confirms Later", source="samhsa-nssats-2015", source_vintage=2015))
    center = session.scalar(select(Center).where(Center.name == "Confirms Later"))
    url = f"/centers/{center.slug}"
    assert "Not confirmed by the center: call to confirm" in Page(client.get(url).data).text

    confirmed = utcnow() - timedelta(days=2)
    center.last_verified_at = confirmed
    session.commit()

    page = Page(client.get(url).data)
    assert f"Confirmed by the center on {long_date(confirmed)}." in page.text
    assert "call to confirm" not in page.text


def test_a_stale_confirmation_asks_to_call_again(client, session):
    confirmed = utcnow() - timedelta(days=400)

    page = profile(client, session, source="samhsa-nssats-2015", source_vintage=2015, last_verified_at=confirmed)

    assert "SAMHSA national directory, 2015." in page.text
    assert f"Last confirmed by the center on {long_date(confirmed)}, more than six months ago: call to confirm" in (
        page.text
    )


@pytest.mark.parametrize(
    ("source", "vintage", "day", "statement"),
    [
        ("findtreatment-gov", 2025, date(2025, 8, 19), "Listed on FindTreatment.gov, August 2025."),
        ("findtreatment-gov-2025", 2025, None, "Listed on FindTreatment.gov, 2025."),
        ("county-list", 2024, None, "Listed in county-list, 2024."),
        ("county-list", None, None, "Listed in county-list."),
    ],
)
def test_sources_are_named_with_their_date_in_words(client, session, source, vintage, day, statement):
    page = profile(client, session, source=source, source_vintage=vintage, source_date=day)

    assert f"{statement} Not confirmed by the center: call to confirm." in page.text


@pytest.mark.parametrize(("days_ago", "call_to_confirm"), [(700, False), (760, True)])
def test_result_cards_say_call_to_confirm_only_for_listings_over_two_years_old(
    client, session, days_ago, call_to_confirm
):
    day = utcnow().date() - timedelta(days=days_ago)
    add_centers(session, center_record(source="findtreatment-gov", source_vintage=day.year, source_date=day))

    page = Page(client.get("/search?near=60601").data)

    card = page.results()[0].text
    listed = f"Listed on FindTreatment.gov, {day:%B %Y}"
    assert listed in card
    assert ("call to confirm" in card) == call_to_confirm


def test_an_unknown_center_is_a_404_on_the_error_page(client):
    response = client.get("/centers/no-such-center")
    page = Page(response.data)

    assert response.status_code == 404
    assert page.first_text("h1") == "There is no page at this address."
    assert page.link("Search for treatment near you").href == "/"
    assert "1-800-662-4357" in page.text
    assert page.find("link", rel="stylesheet").attrs["href"] == "/static/site.css"
