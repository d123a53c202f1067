"""The JSON API: search, one center, errors, and the OpenAPI document that describes them."""

from __future__ import annotations

from datetime import date

import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic_core import to_json

from directory.api.schemas import search_response, search_response_json
from directory.search.geocoding import Place
from directory.search.service import SearchFilters, SearchQuery, find_centers_near
from tests.factories import add_centers, center_record


@pytest.fixture
def openapi(client):
    return client.get("/api/v1/openapi.json").get_json()


def response_schema(openapi, path, status):
    """The JSON schema of one documented response, with components resolvable."""
    content = openapi["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]
    return {**content["schema"], "components": openapi["components"]}


def test_openapi_document_is_valid(openapi):
    validate(openapi)
    assert openapi["openapi"].startswith("3.")


def flask_rule(path: str, operation: dict) -> str:
    """The documented path as a Flask rule: integer path parameters get the int converter."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            converter = "int:" if parameter["schema"]["type"] == "integer" else ""
            path = path.replace("{" + parameter["name"] + "}", f"<{converter}{parameter['name']}>")
    return path


def test_every_api_route_is_documented(app, openapi):
    documented = {
        (flask_rule(path, operation), method.upper())
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
    }
    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/v1/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == documented


def test_every_search_parameter_is_documented(client, openapi):
    params = {p["name"]: p for p in openapi["paths"]["/api/v1/centers/search"]["get"]["parameters"]}
    expected = {
        "near", "radius_miles", "level_of_care", "detox_substance", "payment", "medication", "population",
        "language", "accepting_referrals", "verified_only", "pathway", "page", "per_page", "sort",
    }  # fmt: skip
    assert set(params) == expected
    assert params["near"]["required"] is True
    assert "naltrexone" in params["medication"]["schema"]["items"]["enum"]
    assert params["per_page"]["schema"]["maximum"] == 100
    assert params["radius_miles"]["schema"]["maximum"] == 500


def test_search_returns_nearest_first_in_the_documented_shape(client, session, openapi):
    add_centers(
        session,
        center_record(name="Near", latitude=41.886, longitude=-87.622, medications=["naltrexone_injectable"]),
        center_record(name="Farther", latitude=41.95, longitude=-87.65),
        center_record(name="Too far", latitude=43.0, longitude=-89.0),
    )
    response = client.get("/api/v1/centers/search?near=60601&radius_miles=10")
    assert response.status_code == 200
    body = response.get_json()
    jsonschema.validate(body, response_schema(openapi, "/api/v1/centers/search", 200))
    assert [r["name"] for r in body["results"]] == ["Near", "Farther"]
    assert body["total"] == 2
    assert body["origin"]["label"].startswith("60601")
    assert body["radius_miles"] == 10
    assert body["results"][0]["medications"] == ["naltrexone_injectable"]
    assert body["results"][1]["distance_miles"] == round(body["results"][1]["distance_miles"], 1)


def test_search_results_carry_the_intake_line_and_beds_like_the_center_itself(client, session, openapi):
    add_centers(
        session,
        center_record(name="With beds", intake_phone="(312) 555-0199", beds_available=4),
        center_record(name="Not said", latitude=41.95),
    )
    summary = openapi["components"]["schemas"]["CenterSummary"]
    assert {"intake_phone", "beds_available"} <= set(summary["required"])
    results = client.get("/api/v1/centers/search?near=60601").get_json()["results"]
    assert [(r["name"], r["intake_phone"], r["beds_available"]) for r in results] == [
        ("With beds", "(312) 555-0199", 4),
        ("Not said", None, None),
    ]
    detail = client.get(f"/api/v1/centers/{results[0]['id']}").get_json()
    assert (detail["intake_phone"], detail["beds_available"]) == ("(312) 555-0199", 4)


def test_search_results_carry_the_second_address_line_and_every_field_the_schema_names(client, session, openapi):
    add_centers(session, center_record(name="Upstairs", street1="12 Main St", street2="Suite 300"))
    [result] = client.get("/api/v1/centers/search?near=60601").get_json()["results"]
    assert (result["street1"], result["street2"]) == ("12 Main St", "Suite 300")
    summary = openapi["components"]["schemas"]["CenterSummary"]
    assert set(result) == set(summary["properties"]) == set(summary["required"])


def test_filters_accept_repeated_and_comma_separated_values(client, session):
    add_centers(
        session,
        center_record(name="Medicaid", payment_options=["medicaid"]),
        center_record(name="Self-pay", payment_options=["self_pay"]),
        center_record(name="Private", payment_options=["private_insurance"]),
    )
    repeated = client.get("/api/v1/centers/search?near=60601&payment=medicaid&payment=self_pay").get_json()
    commas = client.get("/api/v1/centers/search?near=60601&payment=medicaid,self_pay").get_json()
    assert repeated["total"] == commas["total"] == 2


def test_pagination(client, session):
    add_centers(session, *(center_record(name=f"Center {i:02}", latitude=41.88 + i / 1000) for i in range(25)))
    first = client.get("/api/v1/centers/search?near=60601&per_page=10").get_json()
    third = client.get("/api/v1/centers/search?near=60601&per_page=10&page=3").get_json()
    assert first["total"] == third["total"] == 25
    assert len(first["results"]) == 10 and len(third["results"]) == 5
    assert (first["page"], first["per_page"], third["page"]) == (1, 10, 3)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("", "near", "Enter a ZIP code"),
        ("near=pizza", "near", "could not find a town called"),
        ("near=Springfield", "near", 'There are towns called "Springfield" in '),
        ("near=1234", "near", "could not understand"),
        ("near=00000", "near", "not a US ZIP code"),
        ("near=60601&radius_miles=0", "radius_miles", "0.1 to 500"),
        ("near=60601&radius_miles=501", "radius_miles", "0.1 to 500"),
        ("near=60601&radius_miles=far", "radius_miles", "0.1 to 500"),
        ("near=60601&medication=aspirin", "medication", "Unknown code 'aspirin'; accepted: naltrexone"),
        ("near=60601&level_of_care=detox", "level_of_care", "accepted: medical_detox"),
        ("near=60601&per_page=101", "per_page", "1 to 100"),
        ("near=60601&page=0", "page", "Pages start at 1"),
        ("near=60601&pathway=magic", "pathway", "accepted: empty, 'detox_naltrexone'"),
        ("near=60601&page=x", "page", "Pages start at 1"),
        ("near=60601&accepting_referrals=maybe", "accepting_referrals", "Unknown value 'maybe'"),
    ],
)
def test_bad_parameters_get_400_naming_the_field(client, openapi, query, field, message):
    response = client.get(f"/api/v1/centers/search?{query}")
    assert response.status_code == 400
    body = response.get_json()
    jsonschema.validate(body, response_schema(openapi, "/api/v1/centers/search", 400))
    assert field in body["fields"]
    assert message in " ".join(body["fields"][field])
    assert len(body["fields"][field]) == 1, "one clear message per field"
    assert field in body["error"]


def test_get_center_by_id_and_unknown_id(client, session, openapi):
    add_centers(
        session,
        center_record(name="Profiled", intake_phone="(312) 555-0199", beds_available=4, source_date=date(2025, 8, 19)),
    )
    search = client.get("/api/v1/centers/search?near=60601").get_json()
    center_id = search["results"][0]["id"]
    assert (search["results"][0]["source_date"], search["results"][0]["accepting_referrals"]) == ("2025-08-19", None)
    body = client.get(f"/api/v1/centers/{center_id}").get_json()
    jsonschema.validate(body, response_schema(openapi, "/api/v1/centers/{center_id}", 200))
    assert body["name"] == "Profiled"
    assert body["intake_phone"] == "(312) 555-0199"
    assert body["beds_available"] == 4
    assert body["verified"] is False
    assert (body["source_date"], body["accepting_referrals"]) == ("2025-08-19", None)
    missing = client.get("/api/v1/centers/999999")
    assert missing.status_code == 404
    assert "999999" in missing.get_json()["error"]


def test_unknown_api_path_and_method_are_json_errors(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]
    response = client.post("/api/v1/centers/search")
    assert response.status_code == 405
    assert response.get_json()["error"]


def test_search_on_the_nationwide_seed(seeded_client):
    body = seeded_client.get("/api/v1/centers/search?near=Boston,MA&medication=naltrexone&language=es").get_json()
    assert body["total"] > 0
    for result in body["results"]:
        assert {"naltrexone_oral", "naltrexone_injectable"} & set(result["medications"])
        assert "es" in result["languages"]
        assert result["distance_miles"] <= 25
        assert result["source"] == "findtreatment-gov"  # the 2025 download covers Massachusetts


def test_the_search_json_is_its_plain_data_encoded_byte_for_byte(session):
    """The API's JSON is assembled from each listing's JSON, kept with the listing: the same
    bytes as encoding the whole answer at once, fresh or from what was kept."""
    add_centers(
        session,
        center_record(name='The "Quoted" Center \u2014 Se habla espa\u00f1ol', website=None, street1=None),
        center_record(name="Second <b>&</b>", latitude=41.9, longitude=-87.7, languages=["es"]),
        center_record(name="Third", latitude=41.8855, longitude=-87.6217),
    )
    origin = Place("Chicago, IL \u00e9", 41.8855, -87.6217)
    for query in (
        SearchQuery(origin, 25),
        SearchQuery(origin, 25, SearchFilters(language=("es",)), per_page=1, sort="confirmed_first"),
        SearchQuery(origin, 25, page=9),  # no results
    ):
        result = find_centers_near(session, query)
        expected = to_json(search_response(result))
        assert search_response_json(result) == expected  # each listing encoded now
        assert search_response_json(find_centers_near(session, query)) == expected  # from what was kept
