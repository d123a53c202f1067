"""A listing's address on the portal and the API: the city, state and ZIP code must agree, and the map
point moves only with the ZIP code."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from directory.accounts.service import issue_api_token
from directory.centers_editing import address_problems
from directory.models import Center, User
from directory.search.geocoding import OfflineGeocoder
from tests.conftest import SEED_FILE
from tests.factories import add_centers, center_record
from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page

WORCESTER = {"city": "Worcester", "state": "MA", "zip": "01604", "latitude": 42.2626, "longitude": -71.8023}


@pytest.fixture
def worcester(store, cast):
    """A listing at Worcester, MA 01604, away from its ZIP code's point, and an admin signed in to edit it."""
    with store.session() as session:
        add_centers(session, center_record(external_id="test:w", name="Worcester Recovery", **WORCESTER))
        center_id = session.scalar(select(Center.id).where(Center.external_id == "test:w"))
    return store.center(center_id)


@pytest.fixture
def admin_client(client, cast):
    sign_in(client, cast.admin)
    return client


def post_edit(client, center, **changes):
    return client.post(f"/portal/centers/{center.id}/edit", data=edit_data(center, **changes))


def assert_nothing_saved(store, center):
    saved = store.center(center.id)
    assert (saved.city, saved.state, saved.zip) == (center.city, center.state, center.zip)
    assert (saved.latitude, saved.longitude) == (center.latitude, center.longitude)
    assert saved.center_edited_at is None
    assert store.events("center.edit") == []


def test_a_zip_code_in_another_state_is_refused_beside_the_zip(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, zip="90210")
    assert response.status_code == 400
    page = Page(response.data)
    assert "ZIP code 90210 is in Beverly Hills, CA, not in Massachusetts." in page.text_of("zip-error")
    assert "Enter the ZIP code of the center's address, or the state it is in." in page.text_of("zip-error")
    assert_nothing_saved(store, worcester)


def test_a_city_the_zip_code_is_not_in_is_refused_beside_the_city(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, city="Boston")
    assert response.status_code == 400
    message = Page(response.data).text_of("city-error")
    assert "ZIP code 01604 is in Worcester, MA, not in Boston." in message
    assert "Enter Worcester as the city, or the ZIP code of the address in Boston." in message
    assert_nothing_saved(store, worcester)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"state": "NH"}, "state", "ZIP code 01604 is in Worcester, MA, not in New Hampshire."),
        ({"zip": "01002"}, "zip", "ZIP code 01002 is in Amherst, MA, not in Worcester. Enter Amherst as the city "),
        ({"zip": "01002"}, "zip", "(or another name the Postal Service accepts for it: Cushman, Pelham)"),
        ({"city": "Worchester"}, "city", "ZIP code 01604 is in Worcester, MA, not in Worchester."),
        ({"city": "Springfield", "zip": "01002"}, "city", "ZIP code 01002 is in Amherst, MA, not in Springfield."),
    ],
)
def test_each_mismatch_is_reported_on_the_field_that_changed(admin_client, store, worcester, changes, field, message):
    response = post_edit(admin_client, worcester, **changes)
    assert response.status_code == 400
    assert message in Page(response.data).text_of(f"{field}-error")
    assert_nothing_saved(store, worcester)


def test_the_mismatch_is_explained_in_spanish(admin_client, worcester):
    response = admin_client.post(f"/portal/centers/{worcester.id}/edit?lang=es", data=edit_data(worcester, zip="90210"))
    assert response.status_code == 400
    message = Page(response.data).text_of("zip-error")
    assert "El código postal 90210 está en Beverly Hills, CA, no en Massachusetts." in message


@pytest.mark.parametrize(
    ("city", "state", "zip_code"),
    [
        ("Worcester", "MA", "01605"),  # another ZIP code of the town
        ("Worcester", "MA", "01613"),  # a PO box
        ("WORCESTER", "MA", "01604"),
        ("Shrewsbury", "MA", "01604"),  # a town next to the ZIP code's, within NEIGHBOURING_TOWN_MILES
        ("North Bethesda", "MD", "20852"),  # a name the Postal Service accepts besides Rockville
        ("Potomac", "MD", "20852"),
        ("McLean", "VA", "22101"),  # the tables write "Mc Lean"
        ("St. Louis", "MO", "63101"),  # "Saint Louis"
        ("Amherst", "MA", "01002"),
        ("South Amherst", "MA", "01002"),  # in local use, though not for mail
        ("San Juan", "PR", "00901"),
        ("Charlotte Amalie", "VI", "00802"),
        ("Hagatna", "GU", "96910"),
        ("Pago Pago", "AS", "96799"),
    ],
)
def test_an_address_whose_parts_agree_is_saved(admin_client, store, worcester, city, state, zip_code):
    response = post_edit(admin_client, worcester, city=city, state=state, zip=zip_code)
    assert response.status_code == 302, Page(response.data).main().text
    saved = store.center(worcester.id)
    assert (saved.city, saved.state, saved.zip) == (city, state, zip_code)


def test_a_zip_code_the_tables_do_not_know_is_saved_with_coordinates(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, zip="01699", latitude="42.27", longitude="-71.80")
    assert response.status_code == 302
    assert store.center(worcester.id).zip == "01699"


def test_a_listing_whose_address_disagrees_still_saves_other_changes(admin_client, store, cast):
    with store.session() as session:  # as the seed's Gunderson Residence: "Lee, MA 02138" (Cambridge's ZIP code)
        add_centers(session, center_record(external_id="test:lee", city="Lee", state="MA", zip="02138"))
        center = session.scalars(select(Center).where(Center.external_id == "test:lee")).one()
    response = post_edit(admin_client, center, phone="(617) 555-0100", street1="115 Mill Street")
    assert response.status_code == 302
    assert store.center(center.id).phone == "(617) 555-0100"
    response = post_edit(admin_client, center, city="Cambridge")
    assert response.status_code == 302
    assert store.center(center.id).city == "Cambridge"


def test_a_new_street_keeps_the_map_point(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, street1="100 Front Street")
    assert response.status_code == 302
    saved = store.center(worcester.id)
    assert (saved.street1, saved.latitude, saved.longitude) == ("100 Front Street", 42.2626, -71.8023)
    assert not [e for e in store.events("center.edit") if e.field in ("latitude", "longitude")]
    page = Page(admin_client.get(response.headers["Location"]).data)
    assert "The ZIP code did not change, so the center's map point stayed where it was." in page.text
    profile = Page(admin_client.get(f"/centers/{saved.slug}").data)
    assert profile.link("directions").href == "https://www.openstreetmap.org/directions?to=42.2626,-71.8023"


def test_a_new_city_within_the_same_zip_code_keeps_the_map_point(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, city="Shrewsbury")
    assert response.status_code == 302
    saved = store.center(worcester.id)
    assert (saved.city, saved.latitude, saved.longitude) == ("Shrewsbury", 42.2626, -71.8023)


def test_a_new_zip_code_moves_the_map_point_and_says_so(admin_client, store, worcester):
    response = post_edit(admin_client, worcester, street1="20 Main Street", zip="01608")
    assert response.status_code == 302
    place = OfflineGeocoder().locate("01608")
    saved = store.center(worcester.id)
    assert (saved.latitude, saved.longitude) == (place.latitude, place.longitude)
    page = Page(admin_client.get(response.headers["Location"]).data)
    assert f"The ZIP code changed, so the center's map point moved to ZIP code {place.label}." in page.text


def api_headers(store, user: User) -> dict[str, str]:
    with store.session() as session:
        _, token = issue_api_token(session, session.get(User, user.id), "tests")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_api_refuses_a_zip_code_in_another_state(client, store, cast, worcester):
    response = client.patch(
        f"/api/v1/centers/{worcester.id}", headers=api_headers(store, cast.admin), json={"zip": "90210"}
    )
    assert response.status_code == 400
    assert response.get_json()["fields"]["zip"] == [
        "ZIP code 90210 is in Beverly Hills, CA, not in Massachusetts. Enter the ZIP code of the center's address, "
        "or the state it is in."
    ]
    assert_nothing_saved(store, worcester)


def test_the_api_keeps_the_point_for_a_new_street(client, store, cast, worcester):
    headers = api_headers(store, cast.admin)
    response = client.patch(f"/api/v1/centers/{worcester.id}", headers=headers, json={"street1": "100 Front Street"})
    assert response.status_code == 200
    assert response.headers["X-Location-Source"] == "unchanged"
    assert (response.get_json()["latitude"], response.get_json()["longitude"]) == (42.2626, -71.8023)


def test_the_seed_directory_has_one_address_the_rule_refuses():
    """Every seed listing's address, entered afresh: only one disagrees (Gunderson Residence, given as
    "Lee, MA" with Cambridge's ZIP code 02138 and a point in Cambridge)."""
    blank = SimpleNamespace(city="", state="", zip="")
    with SEED_FILE.open(newline="", encoding="utf-8") as file:
        refused = [
            row["external_id"]
            for row in csv.DictReader(file)
            if address_problems(blank, {"city": row["city"], "state": row["state"], "zip": row["zip"]})
        ]
    assert refused == ["findtreatment-gov:gunderson-residence-02138"]
