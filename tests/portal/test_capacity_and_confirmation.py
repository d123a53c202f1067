"""One-click capacity updates, confirming a listing, its status on the portal, and its history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from directory.centers_editing import FIELD_LABELS
from directory.models import Center
from directory.models.base import utcnow
from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page


@pytest.fixture
def staff_client(client, cast):
    sign_in(client, cast.staff_a)
    return client


def test_capacity_is_one_click_from_the_portal_home(staff_client, store, cast):
    home = Page(staff_client.get("/portal/").data)
    form = home.find("form", action=f"/portal/centers/{cast.a.id}/capacity")
    assert form.attrs["method"] == "post"
    response = staff_client.post(
        f"/portal/centers/{cast.a.id}/capacity",
        data={"accepting_referrals": "false", "beds_available": "4", "next": "/portal/"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    center = store.center(cast.a.id)
    assert (center.accepting_referrals, center.beds_available) == (False, 4)
    assert center.center_edited_at is not None, "imports must not undo a capacity update"
    assert {(e.field, e.old_value, e.new_value) for e in store.events("center.capacity")} == {
        ("accepting_referrals", None, "False"),
        ("beds_available", None, "4"),
    }
    page = Page(staff_client.get("/portal/").data)
    assert "Capacity updated for Alpha Recovery: not accepting referrals, beds available 4." in page.text


def capacity(client, center, beds: str):
    return client.post(
        f"/portal/centers/{center.id}/capacity", data={"accepting_referrals": "true", "beds_available": beds}
    )


def test_blank_beds_means_unknown(staff_client, store, cast):
    capacity(staff_client, cast.a, "7")
    capacity(staff_client, cast.a, "")
    assert store.center(cast.a.id).beds_available is None
    assert [(e.old_value, e.new_value) for e in store.events("center.capacity") if e.field == "beds_available"] == [
        (None, "7"),
        ("7", None),
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"accepting_referrals": "true", "beds_available": "-1"}, "beds_available", "whole number from 0 to 10000"),
        ({"accepting_referrals": "true", "beds_available": "10001"}, "beds_available", "whole number from 0 to 10000"),
        ({"accepting_referrals": "true", "beds_available": "lots"}, "beds_available", "whole number from 0 to 10000"),
        ({"beds_available": "3"}, "accepting_referrals", "is required: yes or no"),
        ({"accepting_referrals": "maybe"}, "accepting_referrals", "must be true or false"),
    ],
)
@pytest.mark.parametrize(("page", "title"), [("/portal/", "Center portal"), ("/portal/centers/{id}/", "Manage {name}")])
def test_invalid_capacity_is_refused_on_the_page_the_form_was_on(
    staff_client, store, cast, data, field, message, page, title
):
    page = page.format(id=cast.a.id)
    response = staff_client.post(f"/portal/centers/{cast.a.id}/capacity", data={**data, "next": page})
    assert response.status_code == 400
    shown = Page(response.data)
    assert shown.first_text("title").startswith(title.format(name=cast.a.name))
    shown = shown.main()
    assert f"The capacity of {cast.a.name} was not updated." in shown.text
    assert message in shown.text and f"{FIELD_LABELS[field]}: " in shown.text
    center = store.center(cast.a.id)
    assert (center.accepting_referrals, center.beds_available, center.center_edited_at) == (None, None, None)


def test_confirming_makes_the_listing_show_as_confirmed(staff_client, store, cast):
    assert "Never confirmed by the center" in Page(staff_client.get(f"/portal/centers/{cast.a.id}/").data).text
    response = staff_client.post(f"/portal/centers/{cast.a.id}/confirm", follow_redirects=True)
    center = store.center(cast.a.id)
    assert center.is_verified(utcnow())
    assert "shows as confirmed until" in Page(response.data).text
    [event] = store.events("center.confirm")
    assert (event.field, event.old_value, event.actor_id) == ("last_verified_at", None, cast.staff_a.id)
    assert event.new_value == center.last_verified_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    portal = Page(staff_client.get("/portal/").data)
    assert portal.find("p", class_="status status-confirmed")
    profile = Page(staff_client.get(f"/centers/{center.slug}").data)
    assert "Confirmed by the center on" in profile.text


def test_a_confirmation_older_than_180_days_shows_as_unconfirmed_again(staff_client, store, cast):
    with store.session() as session:
        center = session.get(Center, cast.a.id)
        center.last_verified_at = utcnow() - timedelta(days=181)
        session.commit()
    page = Page(staff_client.get("/portal/").data)
    assert page.find("p", class_="status status-lapsed")
    assert "Unconfirmed since" in page.text
    profile = Page(staff_client.get(f"/centers/{cast.a.slug}").data)
    assert "more than six months ago" in profile.text


def test_the_portal_home_lists_only_the_users_centers(staff_client, cast):
    page = Page(staff_client.get("/portal/").data)
    assert "Alpha Recovery" in page.main().text
    assert "Beta House" not in page.main().text
    assert page.main().links_to(f"/portal/centers/{cast.a.id}/edit")
    assert page.main().links_to(f"/portal/centers/{cast.a.id}/history")
    assert "Accepting referrals Yes" in page.main().text


def test_the_history_shows_who_changed_what_and_when(staff_client, store, cast):
    staff_client.post(f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, name="Alpha Two"))
    capacity(staff_client, cast.a, "2")
    staff_client.post(f"/portal/centers/{cast.a.id}/confirm")
    staff_client.post(f"/portal/centers/{cast.b.id}/confirm")  # refused: logged, but not the listing's history

    response = staff_client.get(f"/portal/centers/{cast.a.id}/history")
    rows = Page(response.data).main().text
    assert rows.index("Confirmed the listing") < rows.index("Updated capacity") < rows.index("Edited the listing")
    assert "staff-a@example.org" in rows
    assert "Name Alpha Recovery Alpha Two" in rows
    assert "Beds available (none) 2" in rows
    assert "access" not in rows.lower()

    admin = staff_client.application.test_client()
    sign_in(admin, cast.admin)
    assert "Alpha Two" in Page(admin.get(f"/portal/centers/{cast.a.id}/history").data).main().text
