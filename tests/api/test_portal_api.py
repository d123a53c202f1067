"""The API's writes: edit, capacity, confirm and history, with bearer tokens and the portal's access rules."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate

from directory.accounts.service import issue_api_token
from directory.centers_editing import EDITABLE_FIELDS
from directory.models import User
from directory.search.geocoding import OfflineGeocoder
from tests.portal.conftest import Store, cast, store  # noqa: F401  (fixtures shared with the portal's tests)

ENDPOINTS = [
    ("PATCH", "/api/v1/centers/{id}", {"name": "Alpha Recovery Center"}),
    ("PUT", "/api/v1/centers/{id}/capacity", {"accepting_referrals": False, "beds_available": 2}),
    ("POST", "/api/v1/centers/{id}/confirm", None),
    ("GET", "/api/v1/centers/{id}/history", None),
]


@pytest.fixture
def openapi(client):
    return client.get("/api/v1/openapi.json").get_json()


def schema_of(openapi, name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": openapi["components"]}


def token_for(records: Store, user: User | None) -> dict[str, str]:
    """Request headers carrying a fresh API token of the user (none for anonymous)."""
    if user is None:
        return {}
    with records.session() as session:
        _, token = issue_api_token(session, session.get(User, user.id), "tests")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def call(client, method: str, path: str, headers: dict[str, str], body=None):
    return client.open(path, method=method, headers=headers, json=body)


@pytest.fixture
def staff(store, cast):  # noqa: F811
    return token_for(store, cast.staff_a)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("actor", ["staff_a", "admin"])
def test_the_centers_staff_and_admins_may(client, store, cast, openapi, method, path, body, actor):  # noqa: F811
    response = call(client, method, path.format(id=cast.a.id), token_for(store, cast.user(actor)), body)
    assert response.status_code == 200, response.get_json()
    shape = "CenterHistory" if path.endswith("/history") else "CenterDetail"
    jsonschema.validate(response.get_json(), schema_of(openapi, shape))


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_calls_get_401(client, store, cast, method, path, body):  # noqa: F811
    for headers in ({}, {"Authorization": "Bearer tdk_not-a-real-token"}):
        response = call(client, method, path.format(id=cast.a.id), headers, body)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert "API token" in response.get_json()["error"]
    assert store.center(cast.a.id).center_edited_at is None


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_referral_staff_get_403(client, store, cast, method, path, body):  # noqa: F811
    response = call(client, method, path.format(id=cast.a.id), token_for(store, cast.referral), body)
    assert response.status_code == 403
    assert set(response.get_json()) == {"error", "fields"}
    assert store.center(cast.a.id).center_edited_at is None


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_staff_of_another_center_get_404_and_the_attempt_is_logged(client, store, cast, method, path, body):  # noqa: F811
    response = call(client, method, path.format(id=cast.a.id), token_for(store, cast.staff_b), body)
    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "fields"}
    center = store.center(cast.a.id)
    assert (center.name, center.last_verified_at, center.center_edited_at) == ("Alpha Recovery", None, None)
    [denied] = store.events("access.denied")
    assert (denied.actor_id, denied.entity_type, denied.entity_id) == (cast.staff_b.id, "center", str(cast.a.id))


def test_an_unknown_center_is_404(client, store, cast):  # noqa: F811
    admin = token_for(store, cast.admin)
    assert call(client, "PATCH", "/api/v1/centers/999999", admin, {"name": "x"}).status_code == 404


def test_patch_changes_only_the_fields_sent_and_audits_each(client, store, cast, staff):  # noqa: F811
    body = {
        "name": "Alpha Recovery Center",
        "phone": "312-555-0177 x3",
        "medications": ["naltrexone_oral", "methadone"],
        "languages": [],
        "detox_stay_days": 4,
        "alt_name": None,
    }
    response = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, body)
    assert response.status_code == 200
    detail = response.get_json()
    assert detail["name"] == "Alpha Recovery Center"
    assert detail["phone"] == "(312) 555-0177 ext. 3"
    assert detail["medications"] == ["methadone", "naltrexone_oral"]
    assert detail["languages"] == [] and detail["detox_stay_days"] == 4
    assert detail["city"] == "Chicago" and detail["levels_of_care"] == ["outpatient"], "fields not sent stay"
    assert response.headers["X-Location-Source"] == "unchanged"
    events = {(e.field, e.old_value, e.new_value, e.actor_id) for e in store.events("center.edit")}
    staff_id = cast.staff_a.id
    assert events == {
        ("name", "Alpha Recovery", "Alpha Recovery Center", staff_id),
        ("phone", "(312) 555-0100", "(312) 555-0177 ext. 3", staff_id),
        ("medications", "", "methadone;naltrexone_oral", staff_id),
        ("languages", "es", "", staff_id),
        ("detox_stay_days", None, "4", staff_id),
    }
    assert store.center(cast.a.id).center_edited_at is not None


def test_patch_moves_the_map_point_to_a_new_zip_unless_coordinates_are_sent(client, store, cast, staff):  # noqa: F811
    response = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, {"zip": "60614"})
    place = OfflineGeocoder().locate("60614")
    assert response.headers["X-Location-Source"] == "geocoded"
    assert (response.get_json()["latitude"], response.get_json()["longitude"]) == (place.latitude, place.longitude)

    body = {"zip": "60657", "latitude": 41.9361, "longitude": -87.6483}
    response = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, body)
    assert response.headers["X-Location-Source"] == "explicit"
    detail = response.get_json()
    assert (detail["zip"], detail["latitude"], detail["longitude"]) == ("60657", 41.9361, -87.6483)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"zip": "6060"}, "zip", "is not a ZIP code"),
        ({"zip": 60601}, "zip", None),
        ({"phone": "555-0100"}, "phone", "is not a 10-digit US phone number"),
        ({"state": "XX"}, "state", "is not a US state or territory code"),
        ({"website": "example.org"}, "website", "is not a web address starting with http:// or https://"),
        ({"detox_stay_days": 0}, "detox_stay_days", "must be a whole number from 1 to 365"),
        ({"detox_stay_days": 400}, "detox_stay_days", "must be a whole number from 1 to 365"),
        ({"detox_stay_days": 2.5}, "detox_stay_days", "must be a whole number from 1 to 365"),
        ({"detox_stay_days": True}, "detox_stay_days", "must be text or a number"),
        ({"name": None}, "name", "Name is required."),
        ({"name": ["a"]}, "name", "must be a single value"),
        ({"medications": "methadone"}, "medications", "must be a list of codes"),
        ({"medications": ["aspirin"]}, "medications", "“aspirin” has unknown codes; accepted: naltrexone_oral"),
        ({"latitude": 41.9}, "longitude", "is needed too"),
        ({"latitude": 91, "longitude": 0}, "latitude", "is out of range"),
        ({"color": "blue"}, "color", "Not an editable field; editable: name, alt_name"),
        ({"beds_available": 3}, "beds_available", "PUT /api/v1/centers/{center_id}/capacity"),
        ({"last_verified_at": "2026-01-01"}, "last_verified_at", "POST /api/v1/centers/{center_id}/confirm"),
    ],
)
def test_patch_refuses_bad_fields_naming_each(client, store, cast, staff, openapi, body, field, message):  # noqa: F811
    response = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, body)
    if message is None:  # a number where text is expected is read as the text
        assert response.status_code == 200
        return
    assert response.status_code == 400
    error = response.get_json()
    jsonschema.validate(error, schema_of(openapi, "Error"))
    assert message in " ".join(error["fields"][field])
    assert field in error["error"] or message in error["error"]
    assert store.center(cast.a.id).center_edited_at is None
    assert store.events("center.edit") == []


def test_patch_reports_every_bad_field_at_once(client, cast, staff):  # noqa: F811
    body = {"zip": "x", "phone": "x", "color": "x", "name": "ok"}
    unknown = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, body).get_json()
    assert set(unknown["fields"]) == {"color"}, "unknown fields are reported before values are checked"
    del body["color"]
    invalid = call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, body).get_json()
    assert set(invalid["fields"]) == {"zip", "phone"}


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"{}"])
def test_patch_needs_a_json_object_with_fields(client, cast, staff, data):  # noqa: F811
    response = client.patch(
        f"/api/v1/centers/{cast.a.id}", data=data, headers={**staff, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"] or "at least one field" in response.get_json()["error"]


def test_capacity_is_replaced_and_audited(client, store, cast, staff):  # noqa: F811
    url = f"/api/v1/centers/{cast.a.id}/capacity"
    detail = call(client, "PUT", url, staff, {"accepting_referrals": False, "beds_available": 12}).get_json()
    assert (detail["accepting_referrals"], detail["beds_available"]) == (False, 12)
    detail = call(client, "PUT", url, staff, {"accepting_referrals": True, "beds_available": None}).get_json()
    assert (detail["accepting_referrals"], detail["beds_available"]) == (True, None)
    changes = [(e.field, e.old_value, e.new_value) for e in store.events("center.capacity")]
    assert changes == [
        ("accepting_referrals", None, "False"),
        ("beds_available", None, "12"),
        ("accepting_referrals", "False", "True"),
        ("beds_available", "12", None),
    ]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"beds_available": 3}, "accepting_referrals", "is required"),
        ({"accepting_referrals": "perhaps"}, "accepting_referrals", "must be true or false"),
        ({"accepting_referrals": 1}, "accepting_referrals", "must be true or false"),
        ({"accepting_referrals": True, "beds_available": -1}, "beds_available", "from 0 to 10000"),
        ({"accepting_referrals": True, "beds_available": 10001}, "beds_available", "from 0 to 10000"),
        ({"accepting_referrals": True, "beds_available": True}, "beds_available", "must be text or a number"),
        (
            {"accepting_referrals": True, "beds": 3},
            "beds",
            "Unknown field; send accepting_referrals and beds_available",
        ),
    ],
)
def test_capacity_refuses_bad_values(client, store, cast, staff, body, field, message):  # noqa: F811
    response = call(client, "PUT", f"/api/v1/centers/{cast.a.id}/capacity", staff, body)
    assert response.status_code == 400
    assert message in " ".join(response.get_json()["fields"][field])
    assert store.events("center.capacity") == []


def test_confirm_then_history(client, store, cast, staff, openapi):  # noqa: F811
    call(client, "PATCH", f"/api/v1/centers/{cast.a.id}", staff, {"name": "Alpha Two"})
    detail = call(client, "POST", f"/api/v1/centers/{cast.a.id}/confirm", staff).get_json()
    assert detail["verified"] is True and detail["last_verified_at"].endswith("Z")

    history = call(client, "GET", f"/api/v1/centers/{cast.a.id}/history", staff).get_json()
    jsonschema.validate(history, schema_of(openapi, "CenterHistory"))
    assert history["center_id"] == cast.a.id
    assert [(e["action"], e["field"]) for e in history["events"]] == [
        ("center.confirm", "last_verified_at"),
        ("center.edit", "name"),
    ]
    confirm, edit = history["events"]
    assert confirm["new_value"] == detail["last_verified_at"] and confirm["old_value"] is None
    assert (edit["old_value"], edit["new_value"], edit["actor_email"]) == (
        "Alpha Recovery",
        "Alpha Two",
        "staff-a@example.org",
    )


def test_the_writes_are_documented_with_their_bodies_and_security(openapi):
    validate(openapi)
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": openapi["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    paths = openapi["paths"]
    writes = {
        ("patch", "/api/v1/centers/{center_id}"): "CenterEdit",
        ("put", "/api/v1/centers/{center_id}/capacity"): "CapacityUpdate",
        ("post", "/api/v1/centers/{center_id}/confirm"): None,
        ("get", "/api/v1/centers/{center_id}/history"): None,
    }
    for (method, path), request_model in writes.items():
        operation = paths[path][method]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401", "403", "404"} <= set(operation["responses"])
        if request_model:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{request_model}"}
    assert "security" not in paths["/api/v1/centers/{center_id}"]["get"], "reads stay open"
    edit_schema = openapi["components"]["schemas"]["CenterEdit"]
    assert set(edit_schema["properties"]) == set(EDITABLE_FIELDS)
    assert edit_schema["additionalProperties"] is False
