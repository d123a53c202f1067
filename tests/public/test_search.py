"""The results page: nearest centers first, filters, empty results and pagination."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.models.base import utcnow
from directory.public.forms import coarse_point
from directory.search.geocoding import OfflineGeocoder
from directory.search.service import SearchQuery, find_centers_near
from tests.factories import add_centers, center_record
from tests.public.pages import Page

CHICAGO_60601 = (41.8858, -87.6181)  # where the offline geocoder puts ZIP 60601
MILES_PER_DEGREE_LATITUDE = 69.0


def north_of_60601(miles: float) -> dict[str, float]:
    """Coordinates about this many miles due north of ZIP 60601."""
    lat, lon = CHICAGO_60601
    return {"latitude": lat + miles / MILES_PER_DEGREE_LATITUDE, "longitude": lon}


def slug_of(session, name: str) -> str:
    return session.scalar(select(Center.slug).where(Center.name == name))


def search(client, **params) -> Page:
    response = client.get("/search", query_string=params)
    assert response.status_code == 200, response.data[:2000]
    return Page(response.data)


def test_a_zip_search_lists_the_nearest_centers_first_with_distance_phone_and_profile(client, session):
    add_centers(
        session,
        center_record(name="Five Miles Out", phone="(312) 555-0105", **north_of_60601(5)),
        center_record(name="Around The Corner", phone="(312) 555-0101 ext. 12", **north_of_60601(0.5)),
        center_record(name="Too Far Away", **north_of_60601(40)),
    )

    page = search(client, near="60601")

    assert page.result_names() == ["Around The Corner", "Five Miles Out"]
    assert "2 centers within 25 miles of 60601 (Chicago, IL)" in page.text
    origin = OfflineGeocoder().locate("60601")
    expected = find_centers_near(session, SearchQuery(origin=origin, radius_miles=25))
    first, second = page.results()
    for result, hit in zip((first, second), expected.hits, strict=True):
        assert f"{hit.distance_miles:.1f} miles" in result.text
        assert result.link("View profile").path == f"/centers/{hit.center.slug}"
        assert f"{hit.center.city}, {hit.center.state}" in result.text
    assert first.link("Call").href == "tel:+1-312-555-0101;ext=12"
    assert second.link("Call").href == "tel:+1-312-555-0105"
    assert client.get(first.link("View profile").href).status_code == 200


def test_results_show_care_payment_and_medications_in_plain_words(client, session):
    add_centers(
        session,
        center_record(
            name="Plain Words",
            levels_of_care=["medical_detox", "outpatient"],
            payment_options=["medicaid", "sliding_scale"],
            medications=["buprenorphine", "naltrexone_injectable"],
        ),
    )

    [result] = search(client, near="60601").results()

    assert "Medical detox (24-hour medically monitored withdrawal); Outpatient" in result.text
    assert "Medicaid; Sliding fee scale (based on income)" in result.text
    assert "Naltrexone injection (Vivitrol); Buprenorphine" in result.text
    assert "naltrexone_injectable" not in result.text


def test_results_offering_a_medication_link_to_its_section_carrying_the_place(client, session):
    add_centers(
        session,
        center_record(name="A Pill", medications=["naltrexone_oral"], **north_of_60601(1)),
        center_record(name="B Shot", medications=["naltrexone_injectable"], **north_of_60601(2)),
        center_record(name="C Methadone", medications=["methadone"], **north_of_60601(3)),
    )

    pill, shot, methadone = search(client, near="60601", radius_miles="25").results()

    for result in (pill, shot):
        (about,) = result.links_to("/medications")
        assert about.href == "/medications?near=60601&radius_miles=25#naltrexone"
        assert about.text == "About naltrexone treatment"
    assert methadone.link("About methadone").href == "/medications?near=60601&radius_miles=25#methadone"


def test_results_say_whether_the_center_confirmed_its_listing(client, session):
    confirmed = utcnow() - timedelta(days=3)
    add_centers(
        session,
        center_record(name="A Old Listing", source="samhsa-nssats-2015", source_vintage=2015, **north_of_60601(1)),
        center_record(name="B Confirmed", last_verified_at=confirmed, **north_of_60601(2)),
    )

    old, fresh = search(client, near="60601").results()

    assert "SAMHSA national directory, 2015: call to confirm" in old.text
    assert f"Confirmed by the center on {confirmed:%B} {confirmed.day}, {confirmed.year}" in fresh.text
    assert "call to confirm" not in fresh.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Detox Naltrexone", "Spanish Outpatient", "Methadone Clinic", "Confirmed Residential"]),
        ({"medication": "naltrexone"}, ["Detox Naltrexone"]),
        ({"medication": "methadone,naltrexone"}, ["Detox Naltrexone", "Methadone Clinic"]),
        ({"language": "es"}, ["Spanish Outpatient"]),
        ({"level_of_care": ["medical_detox", "residential"]}, ["Detox Naltrexone", "Confirmed Residential"]),
        ({"payment": "medicaid", "level_of_care": "outpatient"}, ["Spanish Outpatient"]),
        ({"verified_only": "true"}, ["Confirmed Residential"]),
        ({"accepting_referrals": "true"}, ["Detox Naltrexone", "Confirmed Residential"]),
        ({"pathway": "detox_naltrexone"}, ["Detox Naltrexone"]),
        ({"population": "veterans"}, []),
    ],
)
def test_filters_narrow_the_results(client, session, params, expected):
    add_centers(
        session,
        center_record(
            name="Detox Naltrexone",
            levels_of_care=["medical_detox"],
            medications=["naltrexone_oral"],
            accepting_referrals=True,
            **north_of_60601(1),
        ),
        center_record(
            name="Spanish Outpatient",
            levels_of_care=["outpatient"],
            payment_options=["medicaid"],
            languages=["es"],
            **north_of_60601(2),
        ),
        center_record(
            name="Methadone Clinic",
            levels_of_care=["outpatient"],
            medications=["methadone"],
            accepting_referrals=False,
            **north_of_60601(3),
        ),
        center_record(
            name="Confirmed Residential",
            levels_of_care=["residential"],
            last_verified_at=utcnow() - timedelta(days=1),
            accepting_referrals=True,
            **north_of_60601(4),
        ),
    )

    page = search(client, near="60601", **params)

    assert page.result_names() == expected


def test_results_name_the_active_filters_with_a_link_to_remove_each(client, session):
    add_centers(session, center_record(languages=["es"], medications=["naltrexone_oral"]))

    page = search(client, near="60601", medication="naltrexone", language="es")

    assert "Medication: Naltrexone (oral or injection)" in page.text
    assert "Language: Spanish" in page.text
    removes = [link for link in page.links if link.text.startswith("Remove")]
    assert [link.params for link in removes] == [
        {"near": ["60601"], "radius_miles": ["25"], "language": ["es"]},
        {"near": ["60601"], "radius_miles": ["25"], "medication": ["naltrexone"]},
    ]
    change = page.link("Change your search")
    assert change.path == "/" and change.params["medication"] == ["naltrexone"]


def test_an_empty_result_suggests_a_wider_radius_and_dropping_each_filter(client, session):
    add_centers(
        session,
        center_record(
            name="Forty Miles North",
            languages=["es"],
            medications=["naltrexone_oral"],
            last_verified_at=utcnow() - timedelta(days=1),
            **north_of_60601(40),
        ),
    )
    params = {"near": "60601", "radius_miles": "25", "language": "es", "medication": "naltrexone", "verified_only": "y"}

    page = search(client, **params)

    assert page.results() == []
    assert "0 centers within 25 miles of 60601 (Chicago, IL)" in page.text
    assert "No centers found" in page.text
    assert re.fullmatch(
        r"The nearest matching center is 40\.\d miles away\. Try one of these:", page.text_of("nearest-match")
    )
    wider = [link for link in page.links if link.text.startswith("Search within")]
    assert [link.params["radius_miles"] for link in wider] == [["50"], ["100"]]
    for link in wider:
        assert link.path == "/search"
        assert link.params["language"] == ["es"] and link.params["medication"] == ["naltrexone"]
        assert link.params["verified_only"] == ["true"]
    dropping = {link.text: link.params for link in page.links if link.text.startswith("Search without")}
    assert set(dropping) == {
        "Search without “Language: Spanish”",
        "Search without “Medication: Naltrexone (oral or injection)”",
        "Search without “Only listings confirmed by the center”",
    }
    assert "language" not in dropping["Search without “Language: Spanish”"]
    assert dropping["Search without “Language: Spanish”"]["medication"] == ["naltrexone"]
    assert "verified_only" not in dropping["Search without “Only listings confirmed by the center”"]
    # Following the suggestions finds the center once the radius and filters allow it.
    relaxed = search(client, near="60601", radius_miles="50", language="es")
    assert relaxed.result_names() == ["Forty Miles North"]


def test_only_the_radii_that_reach_the_nearest_match_are_suggested(client, session):
    add_centers(
        session,
        center_record(name="Far North", medications=["naltrexone_oral"], **north_of_60601(312)),
        center_record(name="Near, without naltrexone", **north_of_60601(30)),
    )

    page = search(client, near="60601", radius_miles="25", medication="naltrexone")

    assert page.results() == []
    assert re.fullmatch(
        r"The nearest matching center is 31\d\.\d miles away\. Try one of these:", page.text_of("nearest-match")
    )
    wider = [link for link in page.links if link.text.startswith("Search within")]
    assert [link.params["radius_miles"] for link in wider] == [["500"]]
    assert search(client, near="60601", radius_miles="500", medication="naltrexone").result_names() == ["Far North"]


def test_no_radius_is_suggested_when_no_center_within_the_largest_matches(client, session):
    add_centers(session, center_record(name="Near, without naltrexone", **north_of_60601(30)))

    page = search(client, near="60601", radius_miles="10", medication="naltrexone")

    assert page.results() == []
    assert page.text_of("nearest-match") == (
        "No center in the directory within 500 miles matches this search. Try one of these:"
    )
    assert not [link for link in page.links if link.text.startswith("Search within")]
    assert "Search without “Medication: Naltrexone (oral or injection)”" in page.text


def test_no_wider_radius_is_suggested_beyond_the_largest(client):
    page = search(client, near="60601", radius_miles="500")

    assert "No centers found" in page.text
    assert not [link for link in page.links if link.text.startswith("Search within")]


def test_pagination_links_go_page_to_page_and_keep_every_filter(client, session):
    add_centers(
        session,
        *(
            center_record(
                name=f"Center {n:02d}", languages=["es"], medications=["naltrexone_oral"], **north_of_60601(n)
            )
            for n in range(1, 26)
        ),
        center_record(name="No Spanish", medications=["naltrexone_oral"], **north_of_60601(0.5)),
    )
    filters = {"medication": ["naltrexone"], "language": ["es"], "radius_miles": ["30"], "near": ["60601"]}

    first = search(client, near="60601", radius_miles="30", medication="naltrexone", language="es")

    assert "25 centers within 30 miles of 60601 (Chicago, IL), showing 1–20" in first.text
    assert first.result_names() == [f"Center {n:02d}" for n in range(1, 21)]
    next_link = first.link("Next")
    assert next_link.params == {**filters, "page": ["2"]}
    assert [link.text for link in first.nav("Result pages").links] == ["Page 1", "Page 2", "Next page"]
    assert 'aria-current="page"' in first.html

    second = Page(client.get(next_link.href).data)

    assert second.result_names() == [f"Center {n:02d}" for n in range(21, 26)]
    assert "showing 21–25" in second.text
    assert second.link("Previous").params == filters
    assert '<ol class="results" start="21">' in second.html


def test_a_profile_opened_from_results_gives_the_distance_and_the_way_back(client, session):
    add_centers(
        session,
        *(
            center_record(name=f"Center {n:02d}", medications=["naltrexone_oral"], **north_of_60601(n))
            for n in range(1, 23)
        ),
    )
    second = Page(client.get(search(client, near="60601", medication="naltrexone").link("Next").href).data)
    result = second.results()[0]
    distance = re.search(r"[\d.]+ miles", result.text).group()

    link = result.link("View profile")
    assert link.params == {"near": ["60601"], "radius_miles": ["25"], "medication": ["naltrexone"], "page": ["2"]}
    assert len(second.find_all("a", href=link.href)) == 2  # the name links there too
    profile = Page(client.get(link.href).data)

    assert f"{distance} from 60601 (Chicago, IL) · Back to your results" in profile.text
    back = profile.link("Back to your results")
    assert (back.path, back.params) == ("/search", {**link.params})
    assert Page(client.get(back.href).data).result_names() == second.result_names()


@pytest.mark.parametrize("query", ["", "?near=not+a+place", "?near=60601&radius_miles=-3", "?page=2"])
def test_a_profile_without_a_valid_search_is_the_plain_profile(client, session, query):
    add_centers(session, center_record(name="Plain", **north_of_60601(1)))
    slug = session.scalar(select(Center.slug))

    response = client.get(f"/centers/{slug}{query}")

    assert response.status_code == 200
    page = Page(response.data)
    assert page.first_text("h1") == "Plain"
    assert "Back to your results" not in page.text and "miles from" not in page.text


def test_a_page_past_the_end_offers_the_first_page(client, session):
    add_centers(session, center_record(name="Only One"))

    page = search(client, near="60601", page="3")

    assert "1 center within 25 miles" in page.text
    assert page.link("Go to the first page").params == {"near": ["60601"], "radius_miles": ["25"]}


@pytest.mark.slow
def test_a_zip_search_on_the_nationwide_directory(seeded_client):
    page = search(seeded_client, near="60601")

    total = int(re.search(r"([\d,]+) centers within 25 miles of 60601 \(Chicago, IL\)", page.text)[1].replace(",", ""))
    assert total > 100
    results = page.results()
    assert len(results) == 20
    distances = [float(re.search(r"(\d+\.\d) miles away", r.text)[1]) for r in results]
    assert distances == sorted(distances) and distances[-1] <= 25
    for result in results:
        assert result.link("View profile").path.startswith("/centers/")
        assert any(link.href.startswith("tel:+1-") for link in result.links)
        assert "SAMHSA national directory, 2015: call to confirm" in result.text
    assert page.link("Next").params["page"] == ["2"]
    assert seeded_client.get(results[0].link("View profile").href).status_code == 200

    spanish = search(seeded_client, near="60601", language="es", medication="naltrexone")
    narrowed = int(re.search(r"([\d,]+) centers? within", spanish.text)[1].replace(",", ""))
    assert 0 < narrowed < total
    for result in spanish.results():
        assert "Naltrexone" in result.text
        assert result.links_to("/medications")


@pytest.mark.slow
def test_a_town_search_on_the_nationwide_directory(seeded_client):
    page = search(seeded_client, near="St. Louis, MO", radius_miles="10")

    assert re.search(r"[\d,]+ centers within 10 miles of Saint Louis, MO", page.text)
    assert page.results()


@pytest.mark.parametrize(
    ("near", "rounded"),
    [("41.886812,-87.617301", "41.89,-87.62"), (" 41.8813  -87.6248 ", "41.88,-87.62")],
)
def test_a_point_searched_is_rounded_to_two_decimals_in_every_link_and_the_search_form(client, session, near, rounded):
    add_centers(session, center_record(name="Around The Corner", **north_of_60601(0.5)))
    exact = near.split()[0].split(",")[0]

    response = client.get("/search", query_string={"near": near})

    page = Page(response.data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert exact not in html  # not in the heading, the form, nor any link
    searches = [link.params["near"] for link in page.links if "near" in link.params]
    assert len(searches) > 1 and all(value == [rounded] for value in searches)
    profile = page.main().link("View profile of Around The Corner")
    assert profile.params["near"] == [rounded]
    back = Page(client.get(profile.href).data).main().link("Back to your results")
    assert back.params["near"] == [rounded]
    edit = client.get("/", query_string={"near": near})  # the search form, filled in
    assert Page(edit.data).find("input", id="near").attrs["value"] == rounded


@pytest.mark.parametrize(
    ("near", "kept"),
    [("-0.001,0.004", "0.00,0.00"), ("41.8868 -87.6173", "41.89,-87.62"), ("60601", "60601"),
     ("Chicago, IL", "Chicago, IL"), ("91,0", "91,0"), ("", "")],
)  # fmt: skip
def test_only_points_are_rounded(near, kept):
    assert coarse_point(near) == kept
