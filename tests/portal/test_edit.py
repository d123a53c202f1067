"""Editing a listing on the portal: the import rules, field messages, map points and the audit log."""

from __future__ import annotations

import pytest

from directory.search.geocoding import OfflineGeocoder
from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page


@pytest.fixture
def staff_client(client, cast):
    sign_in(client, cast.staff_a)
    return client


def edit(client, center, **changes):
    return client.post(f"/portal/centers/{center.id}/edit", data=edit_data(center, **changes), follow_redirects=True)


def test_the_form_shows_the_listing(staff_client, cast):
    page = Page(staff_client.get(f"/portal/centers/{cast.a.id}/edit").data)
    assert page.find("input", name="name").attrs["value"] == "Alpha Recovery"
    assert page.find("input", name="phone").attrs["value"] == "(312) 555-0100"
    assert "selected" in page.find("option", value="IL").attrs
    assert page.checked("levels_of_care") == ["outpatient"]
    assert page.checked("languages") == ["es"]
    assert page.find("input", name="latitude").attrs["value"] == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("zip", "6060", "“6060” is not a ZIP code (5 digits, e.g. 02139)."),
        ("zip", "", "ZIP code is not a ZIP code"),
        ("phone", "555-0100", "“555-0100” is not a 10-digit US phone number"),
        ("intake_phone", "call us", "is not a 10-digit US phone number"),
        ("state", "ZZ", "“ZZ” is not a US state or territory code"),
        ("website", "www.example.org", "is not a web address starting with http:// or https://"),
        ("website", "javascript:alert(1)", "is not a web address"),
        ("detox_stay_days", "0", "must be a whole number from 1 to 365"),
        ("detox_stay_days", "366", "must be a whole number from 1 to 365"),
        ("detox_stay_days", "five", "must be a whole number from 1 to 365"),
        ("name", "  ", "Name is required."),
        ("city", "x" * 101, "is longer than 100 characters"),
        ("levels_of_care", ["outpatient", "detox"], "“detox” has unknown codes; accepted: medical_detox"),
        ("latitude", "41.9", "Longitude is needed too"),
        ("latitude", "941.9", "is out of range (decimal degrees, -90 to 90)"),
    ],
)
def test_invalid_values_get_a_message_beside_their_field_and_nothing_is_saved(
    staff_client, store, cast, field, value, message
):
    response = staff_client.post(f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, **{field: value}))
    assert response.status_code == 400
    page = Page(response.data)
    shown_field = "longitude" if message.startswith("Longitude") else field
    assert message in page.text_of(f"{shown_field}-error")
    assert message in page.text_of("error-summary-title") or message in page.main().text
    assert store.center(cast.a.id).center_edited_at is None
    assert store.events("center.edit") == []


def test_several_problems_are_reported_together(staff_client, cast):
    response = staff_client.post(
        f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, zip="abc", phone="1", website="ftp://x.org")
    )
    page = Page(response.data)
    for field in ("zip", "phone", "website"):
        assert page.text_of(f"{field}-error")


def test_each_changed_field_is_one_audit_event_with_its_old_and_new_value(staff_client, store, cast):
    page = Page(
        edit(
            staff_client,
            cast.a,
            name="Alpha Recovery Center",
            phone="312.555.0199 x7",
            medications=["naltrexone_injectable", "buprenorphine"],
            languages=[],
            detox_stay_days="5",
        ).data
    )
    assert "Saved. Changed: Name, Phone, Medications, Languages and communication, Typical detox stay (days)." in (
        page.text
    )
    center = store.center(cast.a.id)
    assert center.name == "Alpha Recovery Center"
    assert center.phone == "(312) 555-0199 ext. 7"
    assert center.medications == ["buprenorphine", "naltrexone_injectable"]
    assert center.languages == []
    assert center.detox_stay_days == 5
    assert center.center_edited_at is not None and center.updated_at == center.center_edited_at
    changes = {(e.field, e.old_value, e.new_value) for e in store.events("center.edit")}
    assert changes == {
        ("name", "Alpha Recovery", "Alpha Recovery Center"),
        ("phone", "(312) 555-0100", "(312) 555-0199 ext. 7"),
        ("medications", "", "buprenorphine;naltrexone_injectable"),
        ("languages", "es", ""),
        ("detox_stay_days", None, "5"),
    }
    assert {(e.actor_id, e.entity_type, e.entity_id) for e in store.events("center.edit")} == {
        (cast.staff_a.id, "center", str(cast.a.id))
    }


def test_a_center_lists_what_it_offers_detox_for(staff_client, store, cast):
    page = Page(edit(staff_client, cast.a, detox_substances=["opioids", "alcohol"]).data)
    assert "Saved. Changed: Detox for." in page.text
    assert store.center(cast.a.id).detox_substances == ["alcohol", "opioids"]
    form = Page(staff_client.get(f"/portal/centers/{cast.a.id}/edit").data)
    assert form.checked("detox_substances") == ["alcohol", "opioids"]

    response = staff_client.post(
        f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, detox_substances=["alcohol", "caffeine"])
    )
    assert response.status_code == 400
    assert "“caffeine” has unknown codes; accepted: alcohol" in Page(response.data).text_of("detox_substances-error")


def test_saving_the_form_unchanged_changes_nothing(staff_client, store, cast):
    page = Page(edit(staff_client, cast.a).data)
    assert "Nothing changed" in page.text
    assert store.center(cast.a.id).center_edited_at is None
    assert store.events("center.edit") == []


def test_a_changed_zip_moves_the_map_point_to_that_zip(staff_client, store, cast):
    page = Page(edit(staff_client, cast.a, street1="2100 N Clark St", zip="60614").data)
    place = OfflineGeocoder().locate("60614")
    center = store.center(cast.a.id)
    assert (center.latitude, center.longitude) == (place.latitude, place.longitude)
    assert f"moved to ZIP code {place.label}" in page.text
    fields = {e.field: (e.old_value, e.new_value) for e in store.events("center.edit")}
    assert fields["zip"] == ("60601", "60614")
    assert fields["latitude"] == ("41.8855", str(place.latitude))


def test_given_coordinates_win_over_the_zip(staff_client, store, cast):
    page = Page(edit(staff_client, cast.a, zip="60614", latitude="41.9212", longitude="-87.6513").data)
    center = store.center(cast.a.id)
    assert (center.zip, center.latitude, center.longitude) == ("60614", 41.9212, -87.6513)
    assert "map point is now at the latitude and longitude you entered" in page.text


def test_a_new_suite_number_keeps_the_map_point(staff_client, store, cast):
    page = Page(edit(staff_client, cast.a, street2="Suite 300").data)
    center = store.center(cast.a.id)
    assert (center.street2, center.latitude, center.longitude) == ("Suite 300", 41.8855, -87.6217)
    assert "map point" not in page.text


def test_a_zip_the_geocoder_does_not_know_asks_for_coordinates(staff_client, store, cast):
    response = staff_client.post(f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, zip="00001"))
    assert response.status_code == 400
    message = Page(response.data).text_of("zip-error")
    assert "00001 is not a US ZIP code we know" in message and "latitude and longitude" in message
    assert store.center(cast.a.id).zip == "60601"
    edit(staff_client, cast.a, zip="00001", latitude="41.9", longitude="-87.7")
    assert store.center(cast.a.id).zip == "00001"
