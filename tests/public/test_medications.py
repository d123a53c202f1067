"""The medications page (buprenorphine, methadone, naltrexone), the old naltrexone address, and the ways to it."""

import pytest

from tests.factories import add_centers, center_record
from tests.public.pages import Page


def test_the_medications_page_covers_what_a_person_needs_to_know(client):
    response = client.get("/medications")
    page = Page(response.data).main()
    text = page.text

    assert response.status_code == 200
    assert [page.text_of(f"{name}-title") for name in ("buprenorphine", "methadone", "naltrexone")] == [
        "Buprenorphine",
        "Methadone",
        "Naltrexone",
    ]
    for words in [
        # Buprenorphine.
        "under the tongue",
        "pharmacy",
        "once withdrawal has begun",
        # Methadone.
        "certified opioid treatment program",
        "take doses home",
        "do not need to be in withdrawal to start",
        # Naltrexone.
        "blocks opioid receptors",
        "once a day",
        "once a month",
        "Vivitrol",
        "7 to 10 days",
        "7 days after short-acting opioids",
        "heroin or oxycodone",
        "10 days after long-acting ones",
        "methadone or buprenorphine",
        "fentanyl",
        "sudden, severe withdrawal",
        "medical detox",
        "counseling",
        "liver",
        "fatal overdose",
        "information, not medical advice",
        "Talk to a doctor, nurse or other clinician",
    ]:
        assert words in text, words


def test_without_a_place_each_search_link_opens_the_search_form_with_the_medication_ticked(client):
    page = Page(client.get("/medications").data).main()

    for name, words in [
        ("buprenorphine", "offering buprenorphine"),
        ("methadone", "offering methadone"),
        ("naltrexone", "offering naltrexone"),
    ]:
        link = page.link(words)
        assert link.path == "/" and link.params == {"medication": [name]}
        assert Page(client.get(link.href).data).checked("medication") == [name]
    pathway = page.link("medical detox and naltrexone")
    assert Page(client.get(pathway.href).data).checked("pathway") == ["detox_naltrexone"]


def test_with_the_place_searched_each_search_link_searches_there(client):
    page = Page(client.get("/medications?near=Springfield,+IL&radius_miles=25").data).main()

    link = page.link("offering methadone")
    assert link.text == "Search for centers offering methadone near Springfield, IL"
    assert link.path == "/search"
    assert link.params == {"near": ["Springfield, IL"], "radius_miles": ["25"], "medication": ["methadone"]}
    assert client.get(link.href).status_code == 200
    pathway = page.link("medical detox and naltrexone")
    assert pathway.params == {"near": ["Springfield, IL"], "radius_miles": ["25"], "pathway": ["detox_naltrexone"]}


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("near=60601&radius_miles=9999", {"near": ["60601"]}),  # a radius no search takes: left out
        ("near=%0a&radius_miles=25", {}),  # no place: no radius either
        ("near=" + "x" * 121, {}),
    ],
)
def test_what_is_not_a_place_or_radius_is_left_out_of_the_links(client, query, kept):
    link = Page(client.get(f"/medications?{query}").data).main().link("offering naltrexone")
    assert {k: v for k, v in link.params.items() if k != "medication"} == kept


def test_the_old_naltrexone_address_redirects_to_the_naltrexone_section_keeping_the_place(client):
    response = client.get("/naltrexone")
    assert response.status_code == 301 and response.headers["Location"] == "/medications#naltrexone"
    response = client.get("/naltrexone?near=60601&radius_miles=10")
    assert response.headers["Location"] == "/medications?near=60601&radius_miles=10#naltrexone"


def test_the_search_form_and_the_site_navigation_link_to_the_medications_page(client):
    page = Page(client.get("/?near=60601").data)

    assert page.main().link("What to know about these medications").href == "/medications?near=60601&radius_miles=25"
    assert page.nav("Site").link("Medications").href == "/medications"


def test_a_profile_opened_from_results_links_to_the_medications_page_with_the_place(client, session):
    add_centers(session, center_record(name="Methadone Clinic", medications=["methadone"]))
    results = Page(client.get("/search?near=60601&radius_miles=10").data)
    profile = Page(client.get(results.results()[0].link("View profile").href).data).main()
    about = profile.link("What to know about methadone treatment")
    assert about.href == "/medications?near=60601&radius_miles=10#methadone"
    assert Page(client.get(about.href).data).main().link("offering methadone").params["near"] == ["60601"]
