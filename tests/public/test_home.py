"""The home page: the search form, its filters, and messages when a search can't run."""

from datetime import date, timedelta

import pytest

from directory.models.base import utcnow
from tests.factories import add_centers, center_record
from tests.public.pages import Page

FORM_CONTROLS = ("input", "select")


def test_home_renders_a_search_form_with_a_label_on_every_field(client):
    response = client.get("/")
    page = Page(response.data)

    assert response.status_code == 200
    form = page.find("form", class_="search-form")
    assert form.attrs["action"] == "/search" and form.attrs["method"] == "get"
    label_for = {e.attrs["for"] for e in page.find_all("label")}
    controls = [e for e in page.elements if e.tag in FORM_CONTROLS]
    assert controls
    for control in controls:
        assert control.attrs.get("id") in label_for, f"no label for {control.attrs}"
    assert page.find("input", id="near").attrs["type"] == "text"
    assert "ZIP code or town" in page.text
    assert page.find("select", id="radius_miles")


def test_home_offers_the_filters_in_labelled_groups(client):
    page = Page(client.get("/").data)

    legends = [e for e in page.elements if e.tag == "legend"]
    assert len(legends) == len(page.find_all("fieldset"))
    for name, value in [
        ("medication", "naltrexone"),
        ("language", "es"),
        ("language", "asl"),
        ("level_of_care", "medical_detox"),
        ("payment", "medicaid"),
        ("population", "veterans"),
        ("accepting_referrals", "true"),
        ("verified_only", "true"),
        ("pathway", "detox_naltrexone"),
    ]:
        assert page.find_all("input", type="checkbox", name=name, value=value), (name, value)
    assert "Naltrexone (oral or injection)" in page.text
    assert "Spanish" in page.text and "deaf and hard of hearing" in page.text
    # Spanish and deaf/hard-of-hearing services come before the long list of other languages.
    assert page.html.index('value="asl"') < page.html.index("More languages") < page.html.index('value="fr"')
    assert page.checked("medication") == page.checked("language") == []


def test_use_my_location_is_a_hidden_button_driven_by_a_static_script(client):
    page = Page(client.get("/").data)

    assert "hidden" in page.find("div", id="locate").attrs
    assert page.find("button", id="use-location").attrs["type"] == "button"
    [(attrs, body)] = page.scripts
    assert attrs["src"] == "/static/locate.js" and body.strip() == ""


def test_home_prechecks_the_filters_in_the_query_string(client):
    page = Page(client.get("/?medication=naltrexone&language=es,lkt&pathway=detox_naltrexone&near=60601").data)

    assert page.checked("medication") == ["naltrexone"]
    assert page.checked("language") == ["es", "lkt"]
    assert page.checked("pathway") == ["detox_naltrexone"]
    assert page.checked("verified_only") == []
    assert page.find("input", id="near").attrs["value"] == "60601"
    # The list holding a pre-checked language other than Spanish or ASL is shown open.
    assert "<details open>" in page.html


@pytest.mark.parametrize(
    ("near", "message"),
    [
        ("Atlantis, IL", 'We could not find a town called "Atlantis" in Illinois'),
        ("00000", "00000 is not a US ZIP code we know"),
        ("somewhere nice", 'We could not find a town called "somewhere nice". Check the spelling'),
        ("Texas", '"Texas" is a state. Enter a town and its state'),
        ("", "Enter a ZIP code or a town and state."),
    ],
)
def test_a_place_that_cannot_be_found_shows_the_form_again_with_the_reason(client, near, message):
    response = client.get("/search", query_string={"near": near, "medication": "naltrexone"})
    page = Page(response.data)

    assert response.status_code == 400
    assert message in page.text_of("near-error"), "the reason is shown beside the field"
    assert page.find("a", href="#near"), "the error summary links to the field"
    near_input = page.find("input", id="near")
    assert near_input.attrs["aria-invalid"] == "true"
    assert "near-error" in (near_input.attrs["aria-describedby"] or "")
    assert near_input.attrs["value"] == near
    assert page.checked("medication") == ["naltrexone"], "the person's filters are kept"


def test_a_town_in_several_states_offers_each_as_a_search_keeping_the_filters(client):
    response = client.get("/search", query_string={"near": "Springfield", "medication": "naltrexone"})
    page = Page(response.data)

    assert response.status_code == 400
    assert 'There are towns called "Springfield" in ' in page.text_of("near-error")
    offered = [link for link in page.links_to("/search") if link.params["near"][0].startswith("Springfield, ")]
    assert [link.text for link in offered][:1] == ["Springfield, IL"] and len(offered) == 8
    for link in offered:
        assert link.text == link.params["near"][0]
        assert link.params["medication"] == ["naltrexone"], "the person's filters are kept"
    followed = client.get(offered[0].href)
    assert followed.status_code == 200
    assert "Treatment centers near Springfield, IL" in Page(followed.data).text


def test_a_misspelled_town_offers_the_close_spellings(client):
    page = Page(client.get("/search?near=Chicgo%2C+IL").data)

    assert "Did you mean Chicago, IL?" in page.text_of("near-error")
    [offered] = [link for link in page.links_to("/search") if link.text == "Chicago, IL"]
    assert offered.params["near"] == ["Chicago, IL"]


def test_a_zip_code_without_its_leading_zero_offers_the_5_digit_one(client):
    response = client.get("/search", query_string={"near": "2139", "medication": "naltrexone"})
    page = Page(response.data)

    assert response.status_code == 400
    assert "Did you mean 02139 (Cambridge, MA)?" in page.text_of("near-error")
    [offered] = [link for link in page.links_to("/search") if link.text == "02139"]
    assert offered.params["near"] == ["02139"] and offered.params["medication"] == ["naltrexone"]


def test_a_town_without_its_state_is_searched_when_it_is_clear_which_offering_the_others(client):
    response = client.get("/search", query_string={"near": "Boston", "medication": "naltrexone"})
    page = Page(response.data)

    assert response.status_code == 200
    assert "Treatment centers near Boston, MA" in page.text
    assert "Not the one you meant? Search near" in page.text
    others = [link for link in page.links_to("/search") if link.text.startswith("Boston, ")]
    assert "Boston, GA" in [link.text for link in others] and "Boston, MA" not in [link.text for link in others]
    assert all(link.params["near"] == [link.text] and link.params["medication"] == ["naltrexone"] for link in others)
    assert "Not the one you meant" not in Page(client.get("/search?near=Boston%2C+MA").data).text


def test_an_unknown_place_message_gives_examples(client):
    page = Page(client.get("/search?near=Nowhere+at+all").data)

    assert "5-digit ZIP code (e.g. 02139)" in page.text
    assert '"Springfield, IL"' in page.text


def test_a_bad_radius_is_reported_beside_the_radius(client):
    response = client.get("/search?near=60601&radius_miles=9000")
    page = Page(response.data)

    assert response.status_code == 400
    assert "Choose a distance from 0.1 to 500 miles." in page.text_of("radius_miles-error")
    assert page.find("select", id="radius_miles").attrs["aria-invalid"] == "true"


def test_home_says_how_current_the_directory_is(client, session):
    now = utcnow()
    add_centers(
        session,
        *(center_record(source="samhsa-nssats-2015", source_vintage=2015) for _ in range(3)),
        center_record(source="findtreatment-gov", source_vintage=2025, source_date=date(2025, 8, 19)),
        center_record(source="findtreatment-gov", source_vintage=2025, source_date=date(2025, 8, 2)),
        center_record(source="samhsa-nssats-2015", source_vintage=2015, last_verified_at=now - timedelta(days=3)),
    )

    text = Page(client.get("/").data).text

    assert "6 listings. Each says where it comes from and when; 1 was confirmed by the center itself" in text
    assert "Listed on FindTreatment.gov, August 2025: 2 SAMHSA national directory, 2015: 4 (older listings" in text


def test_an_empty_directory_says_nothing_about_its_currency(client):
    assert "How current is this directory?" not in Page(client.get("/").data).text
