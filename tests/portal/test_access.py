"""Who may use each portal page: center staff of the center and admins; everyone else is turned away."""

from __future__ import annotations

import pytest

from tests.portal.conftest import edit_data, sign_in
from tests.public.pages import Page

CENTER_ROUTES = [
    ("GET", "/portal/centers/{id}/"),
    ("GET", "/portal/centers/{id}/edit"),
    ("POST", "/portal/centers/{id}/edit"),
    ("POST", "/portal/centers/{id}/capacity"),
    ("GET", "/portal/centers/{id}/confirm"),
    ("POST", "/portal/centers/{id}/confirm"),
    ("GET", "/portal/centers/{id}/history"),
    ("GET", "/portal/centers/{id}/reports"),
]
ALL_ROUTES = [
    *CENTER_ROUTES,
    ("GET", "/portal/"),
    ("GET", "/portal/claims/new?center={id}"),
    ("POST", "/portal/claims/new?center={id}"),
]


def _request(client, cast, method: str, path: str):
    url = path.format(id=cast.a.id)
    if method == "GET":
        return client.get(url)
    data = {}
    if url.endswith("/edit"):
        data = edit_data(cast.a, name="Alpha Recovery Center")
    elif url.endswith("/capacity"):
        data = {"accepting_referrals": "false", "beds_available": "3"}
    return client.post(url, data=data)


def _unchanged(store, cast) -> None:
    center = store.center(cast.a.id)
    assert center.name == "Alpha Recovery"
    assert center.accepting_referrals is None and center.beds_available is None
    assert center.last_verified_at is None and center.center_edited_at is None


@pytest.mark.parametrize(("method", "path"), CENTER_ROUTES)
@pytest.mark.parametrize("actor", ["staff_a", "admin"])
def test_the_centers_staff_and_admins_may(client, store, cast, method, path, actor):
    sign_in(client, cast.user(actor))
    response = _request(client, cast, method, path)
    assert response.status_code == (200 if method == "GET" else 302), response.data[:1000]


@pytest.mark.parametrize(("method", "path"), CENTER_ROUTES)
def test_staff_of_another_center_get_404_and_the_attempt_is_logged(client, store, cast, method, path):
    sign_in(client, cast.staff_b)
    response = _request(client, cast, method, path)
    assert response.status_code == 404
    _unchanged(store, cast)
    denied = store.events("access.denied")
    assert [(e.actor_id, e.entity_type, e.entity_id) for e in denied] == [(cast.staff_b.id, "center", str(cast.a.id))]
    assert path.format(id=cast.a.id) in denied[0].detail


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_referral_staff_get_403(client, store, cast, method, path):
    sign_in(client, cast.referral)
    assert _request(client, cast, method, path).status_code == 403
    _unchanged(store, cast)


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(client, store, cast, method, path):
    response = _request(client, cast, method, path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    _unchanged(store, cast)


def test_an_unknown_center_is_404_for_admins_too(client, cast):
    sign_in(client, cast.admin)
    assert client.get("/portal/centers/999999/").status_code == 404
    assert client.get("/portal/claims/new?center=999999").status_code == 404
    assert client.get("/portal/claims/new").status_code == 404


@pytest.mark.parametrize("path", ["/portal/centers/{id}/capacity", "/portal/centers/{id}/reports/1/resolve"])
def test_state_changing_routes_refuse_get(client, store, cast, path):
    sign_in(client, cast.staff_a)
    assert client.get(path.format(id=cast.a.id)).status_code == 405
    _unchanged(store, cast)


@pytest.mark.parametrize(
    "path",
    [
        "/portal/",
        "/portal/?name=alpha",
        "/portal/claims/new?center={b}",
        "/portal/centers/{a}/",
        "/portal/centers/{a}/edit",
        "/portal/centers/{a}/history",
        "/portal/centers/{a}/confirm",
        "/portal/centers/{a}/reports",
    ],
)
def test_portal_pages_follow_the_sites_layout_rules(client, cast, path):
    sign_in(client, cast.staff_a)
    page = Page(client.get(path.format(a=cast.a.id, b=cast.b.id)).data)
    assert len(page.find_all("h1")) == 1
    assert "tel:+18006624357" in [link.href for link in page.links], "the helpline is on every page"
    for element in page.elements:
        assert "style" not in element.attrs and not [name for name in element.attrs if name.startswith("on")]
    ids = [element.attrs["id"] for element in page.elements if element.attrs.get("id")]
    assert len(ids) == len(set(ids)), "element ids are unique"
    for label in page.find_all("label"):
        assert label.attrs.get("for") in ids, label
