"""Claiming a listing, and the whole path: claim, approval, edit, and the public pages showing it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from directory.models import ClaimStatus, ListingClaim
from directory.search.geocoding import OfflineGeocoder
from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page


def test_the_public_profile_links_to_claiming_the_listing(client, cast):
    profile = Page(client.get(f"/centers/{cast.a.slug}").data)
    link = profile.link("Manage this listing")
    assert (link.path, link.params) == ("/portal/claims/new", {"center": [str(cast.a.id)]})
    assert "Is this your center?" in profile.text
    response = client.get(link.href)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"/portal/claims/new?center={cast.a.id}"]


def test_find_a_listing_by_name_and_state_or_by_zip(client, cast):
    sign_in(client, cast.staff_b)
    page = Page(client.get("/portal/?name=alpha&state=IL").data).main()
    assert "Alpha Recovery" in page.text
    assert page.link("Claim").href == f"/portal/claims/new?center={cast.a.id}"
    assert "Alpha Recovery" not in Page(client.get("/portal/?name=alpha&state=WI").data).main().text
    by_zip = Page(client.get("/portal/?zip=60614").data).main()
    assert "Beta House" in by_zip.text and "Alpha Recovery" not in by_zip.text
    assert by_zip.links_to(f"/portal/centers/{cast.b.id}/"), "a listing you manage links to managing it"
    assert "No listing matches" in Page(client.get("/portal/?name=zzzz").data).main().text
    assert "Enter part of the center's name, or its ZIP code." in Page(client.get("/portal/?state=IL").data).text
    assert "is not a ZIP code" in Page(client.get("/portal/?zip=6061").data).text
    assert "Alpha" not in Page(client.get("/portal/?name=%25").data).main().text.split("Find")[-1]


def test_claiming_a_listing_waits_for_an_administrator(client, store, cast):
    sign_in(client, cast.staff_b)
    form = Page(client.get(f"/portal/claims/new?center={cast.a.id}").data)
    assert form.find("textarea", name="message")
    response = client.post(f"/portal/claims/new?center={cast.a.id}", data={"message": "I run intake at Alpha."})
    assert response.status_code == 302 and response.headers["Location"] == "/portal/"
    [claim] = store.claims()
    assert (claim.user_id, claim.center_id, claim.status, claim.message) == (
        cast.staff_b.id,
        cast.a.id,
        ClaimStatus.PENDING,
        "I run intake at Alpha.",
    )
    [event] = store.events("listing_claim.create")
    assert (event.actor_id, event.entity_type, event.entity_id) == (cast.staff_b.id, "listing_claim", str(claim.id))
    home = Page(client.get("/portal/").data)
    assert "An administrator will review your claim to manage Alpha Recovery." in home.text
    assert "Alpha Recovery, Chicago, IL: Waiting for an administrator" in home.text
    assert "Your claim is waiting" in Page(client.get("/portal/?name=alpha").data).text
    assert client.get(f"/portal/centers/{cast.a.id}/edit").status_code == 404, "not before approval"


def test_a_second_pending_claim_for_the_same_listing_is_refused(client, store, cast):
    sign_in(client, cast.staff_b)
    client.post(f"/portal/claims/new?center={cast.a.id}", data={"message": ""})
    response = client.post(f"/portal/claims/new?center={cast.a.id}", data={"message": "again"})
    assert response.status_code == 409
    message = "You already asked to manage Alpha Recovery; an administrator has not decided yet."
    assert message in Page(response.data).text
    assert len(store.claims()) == 1

    with store.session() as session:
        session.get(ListingClaim, store.claims()[0].id).status = ClaimStatus.REJECTED
        session.commit()
    assert client.post(f"/portal/claims/new?center={cast.a.id}", data={}).status_code == 302
    assert [c.status for c in store.claims()] == [ClaimStatus.REJECTED, ClaimStatus.PENDING]


def test_nobody_claims_a_listing_they_already_manage(client, store, cast):
    sign_in(client, cast.staff_a)
    page = Page(client.get(f"/portal/claims/new?center={cast.a.id}").data)
    assert "You already manage Alpha Recovery." in page.text
    assert not page.find_all("textarea")
    assert client.post(f"/portal/claims/new?center={cast.a.id}", data={}).status_code == 409
    admin = client.application.test_client()
    sign_in(admin, cast.admin)
    assert "You already manage Beta House." in Page(admin.get(f"/portal/claims/new?center={cast.b.id}").data).text
    assert admin.post(f"/portal/claims/new?center={cast.b.id}", data={}).status_code == 409
    assert store.claims() == []


def test_a_long_message_is_refused(client, store, cast):
    sign_in(client, cast.staff_b)
    response = client.post(f"/portal/claims/new?center={cast.a.id}", data={"message": "x" * 1001})
    assert response.status_code == 400
    assert "Keep the message to 1000 characters." in Page(response.data).text
    assert store.claims() == []


def test_claim_approve_edit_and_the_public_pages_show_it(client, store, cast):
    """The whole path, each step through its real page: the admin approves on /admin/claims."""
    sign_in(client, cast.staff_b)
    claim_link = Page(client.get("/portal/?name=Alpha&state=IL").data).main().link("Claim").href
    assert client.post(claim_link, data={"message": "Director of Alpha"}).status_code == 302
    [claim] = store.claims()

    admin = client.application.test_client()
    sign_in(admin, cast.admin)
    assert "Director of Alpha" in Page(admin.get("/admin/claims").data).text
    assert admin.post(f"/admin/claims/{claim.id}/approve").status_code == 302
    assert store.claims()[0].status == ClaimStatus.APPROVED

    home = Page(client.get("/portal/").data).main()
    assert home.links_to(f"/portal/centers/{cast.a.id}/edit")
    assert "Alpha Recovery, Chicago, IL: Approved" in home.text
    center = store.center(cast.a.id)
    response = client.post(
        f"/portal/centers/{cast.a.id}/edit",
        data=edit_data(
            center,
            name="Alpha Recovery Lakeview",
            street1="2800 N Clark St",
            zip="60657",
            medications=["naltrexone_injectable"],
            phone="(773) 555-0142",
        ),
    )
    assert response.status_code == 302
    client.post(f"/portal/centers/{cast.a.id}/confirm")

    center = store.center(cast.a.id)
    profile = Page(client.get(f"/centers/{center.slug}").data)
    assert profile.first_text("h1") == "Alpha Recovery Lakeview"
    assert "2800 N Clark St" in profile.text and "Chicago, IL 60657" in profile.text
    assert profile.link("(773) 555-0142").href == "tel:+1-773-555-0142"
    assert "Naltrexone injection (Vivitrol)" in profile.text
    assert "Confirmed by the center on" in profile.text

    place = OfflineGeocoder().locate("60657")
    assert (center.latitude, center.longitude) == (place.latitude, place.longitude)
    near_new_home = Page(client.get("/search?near=60657&radius_miles=5&medication=naltrexone").data)
    assert near_new_home.result_names() == ["Alpha Recovery Lakeview"]
    api = client.get("/api/v1/centers/search?near=60657&radius_miles=1").get_json()
    assert [r["name"] for r in api["results"]] == ["Alpha Recovery Lakeview"]
