"""The read-only HSDS 3.0 API under /hsds/: every answer valid against Open Referral's schemas,
paging, filters, proximity search, superseded listings, and errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from directory.models import Center
from directory.search.service import SearchFilters, SearchQuery, find_centers_near
from directory.sources import hsds
from tests.factories import add_centers, center_record
from tests.hsds.conftest import north
from tests.hsds.schemas import assert_valid, response_ref


def get_ok(client, url: str, schema_path: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert_valid(body, response_ref(schema_path))
    return body


def test_about_names_the_version_profile_and_openapi_document(client):
    about = get_ok(client, "/hsds/", "/")
    assert about["version"] == "3.0"
    assert about["profile"].startswith("https://")
    document = client.get(about["openapi_url"].removeprefix("http://localhost")).get_json()
    assert set(document["paths"]) >= {"/services", "/service_at_locations", "/taxonomy_terms"}
    assert "REQUIRED" not in str(document["info"])
    assert "Open Referral" in document["info"]["description"]
    assert document["servers"] == [{"url": "http://localhost/hsds"}]


def test_services_list_every_listing_in_id_order_with_superseded_ones_inactive(client, listings):
    body = get_ok(client, "/hsds/services", "/services")
    by_name = {item["name"]: item for item in body["contents"]}
    in_order = sorted(listings.values())
    assert [item["id"] for item in body["contents"]] == [hsds.listing_uuid("service", i) for i in in_order]
    assert body["total_items"] == 4 and body["total_pages"] == 1 and body["size"] == 4
    assert by_name["Gone Center"]["status"] == "inactive"
    assert by_name["Gone Center"]["alert"] == "Not in FindTreatment.gov, 19 August 2025"
    assert by_name["Lakeshore Recovery"]["status"] == "active" and "alert" not in by_name["Lakeshore Recovery"]
    assert by_name["Lakeshore Recovery"]["assured_date"] == "2026-02-03"
    assert (
        by_name["Lakeshore Recovery"]["fees_description"]
        == "Payment accepted: Medicaid; Sliding fee scale (based on income)"
    )
    assert by_name["Lakeshore Recovery"]["organization"]["name"] == "Lakeshore Recovery"
    assert "assured_date" not in by_name["Westside Clinic"]


def test_a_full_service_nests_its_organization_location_phones_languages_and_attributes(client, listings):
    center_id = listings["Lakeshore Recovery"]
    service_id = hsds.listing_uuid("service", center_id)
    service = get_ok(client, f"/hsds/services/{service_id}", "/services/{id}")

    assert service["id"] == service_id
    assert service["url"] == "https://lakeshore.example.org/intake"
    assert service["alternate_name"] == "Lakeshore Detox Unit"
    assert [(p["number"], p.get("extension"), p["description"]) for p in service["phones"]] == [
        ("(312) 555-0100", 12, "Main number"),
        ("(312) 555-0199", None, "Intake"),
    ]
    assert [(language["name"], language.get("code")) for language in service["languages"]] == [("Spanish", "es")]
    codes = {(a["link_type"], a["taxonomy_term"]["code"]) for a in service["attributes"]}
    assert codes == {
        ("levels_of_care", "medical_detox"), ("levels_of_care", "outpatient"), ("payment_options", "medicaid"),
        ("payment_options", "sliding_scale"), ("medications", "buprenorphine"),
        ("medications", "naltrexone_injectable"), ("populations", "veterans"), ("languages", "es"),
        ("languages", "other_languages"),
    }  # fmt: skip
    terms = {term["id"] for term in get_ok(client, "/hsds/taxonomy_terms?per_page=100", "/taxonomy_terms")["contents"]}
    terms |= {
        term["id"] for term in get_ok(client, "/hsds/taxonomy_terms?per_page=100&page=2", "/taxonomy_terms")["contents"]
    }
    assert {a["taxonomy_term_id"] for a in service["attributes"]} <= terms
    assert all(a["link_id"] == service_id and a["link_entity"] == "service" for a in service["attributes"])
    [at_location] = service["service_at_locations"]
    address = at_location["location"]["addresses"][0]
    assert (address["address_2"], address["city"], address["state_province"], address["postal_code"]) == (
        "Suite 400",
        "Chicago",
        "IL",
        "60601",
    )
    assert at_location["location"]["latitude"] == pytest.approx(north(0.5)["latitude"])
    assert service["organization"]["id"] == service["organization_id"] == hsds.listing_uuid("organization", center_id)


def test_a_listing_without_a_street_has_an_empty_first_address_line(client, listings):
    service = get_ok(
        client, f"/hsds/services/{hsds.listing_uuid('service', listings['Westside Clinic'])}", "/services/{id}"
    )
    assert service["service_at_locations"][0]["location"]["addresses"][0]["address_1"] == ""


def test_organizations_one_per_listing_and_in_full(client, listings):
    body = get_ok(client, "/hsds/organizations", "/organizations")
    assert [o["id"] for o in body["contents"]] == [
        hsds.listing_uuid("organization", i) for i in sorted(listings.values())
    ]
    assert all("services" not in o for o in body["contents"])
    with_services = get_ok(client, "/hsds/organizations?full_service=true&full=true", "/organizations")
    assert all(o["services"][0]["phones"] and o["locations"] for o in with_services["contents"])

    organization_id = hsds.listing_uuid("organization", listings["Lakeshore Recovery"])
    one = get_ok(client, f"/hsds/organizations/{organization_id}", "/organizations/{id}")
    assert one["name"] == "Lakeshore Recovery"
    assert one["locations"][0]["addresses"][0]["city"] == "Chicago"
    assert [s["id"] for s in one["services"]] == [hsds.listing_uuid("service", listings["Lakeshore Recovery"])]
    assert "phones" not in one["services"][0]
    full = get_ok(client, f"/hsds/organizations/{organization_id}?full_service=true", "/organizations/{id}")
    assert full["services"][0]["phones"]


def test_service_at_locations_list_and_one(client, listings):
    body = get_ok(client, "/hsds/service_at_locations", "/service_at_locations")
    assert body["total_items"] == 4
    first = body["contents"][0]
    assert first["service"]["status"] and first["location"]["location_type"] == "physical"
    full = get_ok(client, "/hsds/service_at_locations?full=true", "/service_at_locations")
    assert all(item["location"]["addresses"] for item in full["contents"])

    # The reference API gives this answer the schema of a service, which it is not (its list's
    # items are services at locations): it is held to HSDS's service_at_location schema.
    one = client.get(f"/hsds/service_at_locations/{first['id']}").get_json()
    assert_valid(one, "service_at_location.json")
    assert_valid(one["service"], "service.json")
    assert one["id"] == first["id"] and one["service"]["id"] == first["service_id"]


def test_taxonomy_and_terms_publish_the_vocabulary(client):
    taxonomies = get_ok(client, "/hsds/taxonomies", "/taxonomies")
    [taxonomy] = taxonomies["contents"]
    assert get_ok(client, f"/hsds/taxonomies/{taxonomy['id']}", "/taxonomies/{id}") == taxonomy

    top = get_ok(client, "/hsds/taxonomy_terms?top_only=true", "/taxonomy_terms")
    assert {term["code"] for term in top["contents"]} == {
        "levels_of_care", "detox_substances", "payment_options", "medications", "populations", "languages",
    }  # fmt: skip
    medications = next(term for term in top["contents"] if term["code"] == "medications")
    children = get_ok(client, f"/hsds/taxonomy_terms?parent_id={medications['id']}", "/taxonomy_terms")
    assert {term["code"] for term in children["contents"]} == {
        "naltrexone_oral", "naltrexone_injectable", "buprenorphine", "methadone",
    }  # fmt: skip
    assert all(term["taxonomy_id"] == taxonomy["id"] for term in children["contents"])
    vivitrol = get_ok(client, "/hsds/taxonomy_terms?search=vivitrol", "/taxonomy_terms")["contents"]
    assert [term["code"] for term in vivitrol] == ["naltrexone_injectable"]
    one = get_ok(client, f"/hsds/taxonomy_terms/{vivitrol[0]['id']}", "/taxonomy_terms/{id}")
    assert one == vivitrol[0]

    everything = get_ok(client, "/hsds/taxonomy_terms?per_page=100", "/taxonomy_terms")
    assert everything["total_items"] == len(hsds.TERMS) > 100
    assert everything["total_pages"] == 2 and not everything["last_page"]
    ids = [term["id"] for term in everything["contents"]]
    assert ids == sorted(ids)


def test_pages(client, session):
    add_centers(session, *(center_record(name=f"Center {i}") for i in range(5)))
    pages = [get_ok(client, f"/hsds/services?per_page=2&page={n}", "/services") for n in (1, 2, 3, 4)]
    assert [(p["page_number"], p["size"], p["first_page"], p["last_page"], p["empty"]) for p in pages] == [
        (1, 2, True, False, False),
        (2, 2, False, False, False),
        (3, 1, False, True, False),
        (4, 0, False, True, True),
    ]
    assert {(p["total_items"], p["total_pages"]) for p in pages} == {(5, 3)}
    ids = [item["id"] for p in pages for item in p["contents"]]
    assert len(set(ids)) == 5
    assert get_ok(client, "/hsds/services?per_page=20", "/services")["total_pages"] == 1
    assert get_ok(client, "/hsds/services?search=nothing+like+it", "/services")["total_pages"] == 0


def test_modified_after(client, session, listings):
    session.execute(update(Center).values(updated_at=datetime(2026, 1, 1)))
    session.execute(
        update(Center).where(Center.id == listings["Westside Clinic"]).values(updated_at=datetime(2026, 3, 1, 12))
    )
    session.commit()
    for moment in ("2026-03-01T12:00:00Z", "2026-03-01T13:00:00%2B01:00", "2026-02-01"):
        names = [
            item["name"] for item in get_ok(client, f"/hsds/services?modified_after={moment}", "/services")["contents"]
        ]
        assert names == ["Westside Clinic"], moment
    assert get_ok(client, "/hsds/services?modified_after=2026-03-01T12:00:01Z", "/services")["empty"]
    minimal = get_ok(client, "/hsds/services?minimal=true&modified_after=2026-02-01", "/services")["contents"]
    westside = hsds.listing_uuid("service", listings["Westside Clinic"])
    assert minimal == [
        {"id": westside, "name": "Westside Clinic", "status": "active", "last_modified": "2026-03-01T12:00:00Z"}
    ]


def test_filters_by_name_term_taxonomy_and_organization(client, listings):
    def names(query: str) -> list[str]:
        return [item["name"] for item in get_ok(client, f"/hsds/services?{query}", "/services")["contents"]]

    assert names("search=LAKESHORE") == names("search=detox unit") == ["Lakeshore Recovery"]
    assert names("search=100%25") == []
    medicaid = hsds.term_id("payment_options", "medicaid")
    medications = hsds.term_id("medications")
    assert names(f"taxonomy_term_id={medicaid}") == ["Lakeshore Recovery"]
    assert names(f"taxonomy_term_id={medications}") == ["Lakeshore Recovery"]
    assert len(names(f"taxonomy_id={hsds.TAXONOMY_ID}")) == 4
    organization = hsds.listing_uuid("organization", listings["Westside Clinic"])
    assert names(f"organization_id={organization}") == ["Westside Clinic"]
    at_locations = get_ok(client, f"/hsds/service_at_locations?organization_id={organization}", "/service_at_locations")
    assert [item["service"]["name"] for item in at_locations["contents"]] == ["Westside Clinic"]


def test_proximity_is_the_directorys_search_and_leaves_out_superseded_listings(app, client, session, listings):
    body = get_ok(client, "/hsds/service_at_locations?postcode=60601&proximity=16093.44", "/service_at_locations")
    origin = app.extensions["geocoder"].locate("60601")
    expected = find_centers_near(session, SearchQuery(origin, 10))
    assert [item["service_id"] for item in body["contents"]] == [
        hsds.listing_uuid("service", hit.center.id) for hit in expected.hits
    ]
    assert [item["service"]["name"] for item in body["contents"]] == ["Lakeshore Recovery", "Westside Clinic"]
    assert body["total_items"] == expected.total == 2

    medicaid = hsds.term_id("payment_options", "medicaid")
    filtered = get_ok(
        client, f"/hsds/service_at_locations?postcode=60601&taxonomy_term_id={medicaid}", "/service_at_locations"
    )
    search = find_centers_near(session, SearchQuery(origin, 25, SearchFilters(payment=("medicaid",))))
    assert [item["service"]["name"] for item in filtered["contents"]] == [hit.center.name for hit in search.hits]
    assert filtered["total_items"] == 1

    by_kind = get_ok(
        client,
        f"/hsds/service_at_locations?postcode=60601&taxonomy_term_id={hsds.term_id('medications')}",
        "/service_at_locations",
    )
    assert [item["service"]["name"] for item in by_kind["contents"]] == ["Lakeshore Recovery"]
    wide = get_ok(
        client, "/hsds/service_at_locations?postcode=60601&proximity=200000&per_page=1&page=3", "/service_at_locations"
    )
    assert wide["total_items"] == 3 and [item["service"]["name"] for item in wide["contents"]] == ["Milwaukee Place"]
    assert "Gone Center" not in str(wide)


def test_ids_are_stable_and_lead_back_to_their_listing(client, listings):
    first = client.get("/hsds/services?full=true").get_json()
    again = client.get("/hsds/services?full=true").get_json()
    assert first == again
    center_id = listings["Lakeshore Recovery"]
    for kind in hsds.LISTING_KINDS:
        made = hsds.listing_uuid(kind, center_id)
        assert made == hsds.listing_uuid(kind, center_id)
        assert hsds.center_id_of(kind, made) == center_id
        assert all(hsds.center_id_of(other, made) is None for other in hsds.LISTING_KINDS if other != kind)
    assert hsds.listing_uuid("service", 1) == "b22e70ae-af50-8d2d-8000-000000000001"
    assert hsds.term_id("medications", "methadone") == hsds.named_uuid("taxonomy_term", "medications", "methadone")


@pytest.mark.parametrize(
    "path",
    [
        "/hsds/services/{service}x",
        "/hsds/services/not-an-id",
        "/hsds/services/{organization}",
        "/hsds/organizations/{service}",
        "/hsds/service_at_locations/{organization}",
        "/hsds/services/{missing}",
        "/hsds/taxonomies/{organization}",
        "/hsds/taxonomy_terms/{service}",
        "/hsds/no_such_list",
    ],
)
def test_unknown_ids_are_404_in_json(client, listings, path):
    center_id = listings["Lakeshore Recovery"]
    ids = {
        "service": hsds.listing_uuid("service", center_id),
        "organization": hsds.listing_uuid("organization", center_id),
        "missing": hsds.listing_uuid("service", 999_999),
    }
    response = client.get(path.format(**ids))
    assert response.status_code == 404
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("/hsds/services?page=0", "page", "a whole number from 1 to 1000000"),
        ("/hsds/services?per_page=101", "per_page", "a whole number from 1 to 100"),
        ("/hsds/services?per_page=ten", "per_page", "a whole number"),
        ("/hsds/services?page=1&page=2", "page", "give it once"),
        ("/hsds/services?format=ndjson", "format", "only json"),
        ("/hsds/services?modified_after=yesterday", "modified_after", "ISO 8601"),
        ("/hsds/services?taxonomy_term_id=medicaid", "taxonomy_term_id", "/hsds/taxonomy_terms"),
        ("/hsds/services?taxonomy_id=3a19ff88-4620-4d17-9830-ac1d859eb5d5", "taxonomy_id", "one taxonomy"),
        ("/hsds/services?organization_id=3a19ff88-4620-4d17-9830-ac1d859eb5d5", "organization_id", "not the id"),
        ("/hsds/services?full=yes", "full", "true or false"),
        ("/hsds/services?near=60601", "near", "accepted: search, page"),
        ("/hsds/services/{service}?full=true", "full", "accepted: none"),
        ("/hsds/service_at_locations?proximity=1000", "proximity", "needs postcode"),
        ("/hsds/service_at_locations?postcode=606", "postcode", "5 digits"),
        ("/hsds/service_at_locations?postcode=00000", "postcode", "not a US ZIP code"),
        ("/hsds/service_at_locations?postcode=60601&proximity=0", "proximity", "above 0"),
        ("/hsds/service_at_locations?postcode=60601&proximity=900000", "proximity", "at most 804672"),
        ("/hsds/service_at_locations?postcode=60601&proximity=far", "proximity", "in meters"),
        ("/hsds/service_at_locations?postcode=60601&search=lake", "search", "cannot be combined with postcode"),
        ("/hsds/taxonomy_terms?parent_id={term}", "parent_id", "no child terms"),
        ("/hsds/organizations?minimal=true", "minimal", "not a parameter here"),
        ("/hsds/services?search=%00", "search", "NUL"),
    ],
)
def test_bad_parameters_are_400_naming_them(client, listings, query, parameter, message):
    ids = {
        "service": hsds.listing_uuid("service", listings["Lakeshore Recovery"]),
        "term": hsds.term_id("medications", "methadone"),
    }
    response = client.get(query.format(**ids))
    assert response.status_code == 400
    body = response.get_json()
    assert message in body["fields"][parameter][0]
    assert parameter in body["error"]
