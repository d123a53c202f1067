"""Search results with listings confirmed by their center first: the engine, the page and the API."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from directory.search.geocoding import OfflineGeocoder
from directory.search.service import SearchFilters, SearchQuery, find_centers_near
from tests.factories import add_centers, center_record
from tests.public.pages import Page
from tests.search.test_service import matching_center_distances

NOW = datetime(2026, 3, 1, 12, 0)


@pytest.fixture
def centers(session):
    """Five centers north of downtown Chicago, nearest first as listed; two confirmed within 180 days."""
    add_centers(
        session,
        center_record(name="Nearest, never confirmed", latitude=41.887),
        center_record(name="Lapsed", latitude=41.890, last_verified_at=NOW - timedelta(days=200)),
        center_record(name="Confirmed 179 days ago", latitude=41.895, last_verified_at=NOW - timedelta(days=179)),
        center_record(name="Exactly 180 days ago", latitude=41.897, last_verified_at=NOW - timedelta(days=180)),
        center_record(name="Confirmed yesterday", latitude=41.900, last_verified_at=NOW - timedelta(days=1)),
    )


def names(session, **query) -> list[str]:
    origin = OfflineGeocoder().locate("60601")
    result = find_centers_near(session, SearchQuery(origin, 25, **query), now=NOW)
    return [hit.center.name for hit in result.hits]


def test_confirmed_listings_come_first_each_group_nearest_first(session, centers):
    assert names(session) == [
        "Nearest, never confirmed",
        "Lapsed",
        "Confirmed 179 days ago",
        "Exactly 180 days ago",
        "Confirmed yesterday",
    ]
    assert names(session, sort="confirmed_first") == [
        "Confirmed 179 days ago",
        "Confirmed yesterday",
        "Nearest, never confirmed",
        "Lapsed",
        "Exactly 180 days ago",
    ]


def test_the_confirmed_group_is_what_verified_only_finds(session, centers):
    verified = names(session, filters=SearchFilters(verified_only=True))
    assert names(session, sort="confirmed_first")[: len(verified)] == verified


def test_ties_within_a_group_go_by_name_and_pages_agree_with_the_whole_list(session):
    confirmed = NOW - timedelta(days=3)
    add_centers(
        session,
        *(center_record(name=name, last_verified_at=confirmed) for name in ("Delta", "bravo", "Charlie")),
        *(center_record(name=name) for name in ("Echo", "alpha")),
    )
    assert names(session, sort="confirmed_first") == ["Charlie", "Delta", "bravo", "Echo", "alpha"]
    origin = OfflineGeocoder().locate("60601")
    everything, _ = matching_center_distances(session, SearchQuery(origin, 25, sort="confirmed_first"), now=NOW)
    paged = []
    for page in (1, 2, 3):
        query = SearchQuery(origin, 25, page=page, per_page=2, sort="confirmed_first")
        paged += [hit.center.id for hit in find_centers_near(session, query, now=NOW).hits]
    assert paged == everything


def test_an_unknown_order_is_refused():
    with pytest.raises(ValueError, match="sort must be one of distance, confirmed_first"):
        SearchQuery(OfflineGeocoder().locate("60601"), sort="rating")


def test_the_results_page_offers_both_orders_and_keeps_the_choice(client, session):
    recent = datetime.now() - timedelta(days=2)
    add_centers(
        session,
        *(center_record(name=f"Unconfirmed {i:02}", latitude=41.886 + i / 1000) for i in range(20)),
        center_record(name="Confirmed far", latitude=41.95, last_verified_at=recent),
    )
    page = Page(client.get("/search?near=60601").data)
    assert page.result_names()[0] == "Unconfirmed 00"
    assert page.find("strong", **{"aria-current": "true"})
    link = page.main().link("Listings confirmed by the center first")
    assert link.params["sort"] == ["confirmed_first"]

    sorted_page = Page(client.get(link.href).data)
    assert sorted_page.result_names()[0] == "Confirmed far"
    next_page = sorted_page.main().link("Next")
    assert next_page.params["sort"] == ["confirmed_first"]
    assert sorted_page.main().link("Nearest first").params.get("sort") is None


def test_the_api_takes_the_order_and_documents_it(client, session):
    add_centers(
        session,
        center_record(name="Near", latitude=41.886),
        center_record(name="Far, confirmed", latitude=41.95, last_verified_at=datetime.now() - timedelta(days=2)),
    )
    body = client.get("/api/v1/centers/search?near=60601&sort=confirmed_first").get_json()
    assert [r["name"] for r in body["results"]] == ["Far, confirmed", "Near"]
    assert body["sort"] == "confirmed_first"
    assert client.get("/api/v1/centers/search?near=60601").get_json()["sort"] == "distance"
    bad = client.get("/api/v1/centers/search?near=60601&sort=best")
    assert bad.status_code == 400
    assert "Unknown value 'best'; accepted: 'distance', 'confirmed_first'." in bad.get_json()["fields"]["sort"]
    parameters = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/centers/search"]["get"]["parameters"]
    [sort] = [p for p in parameters if p["name"] == "sort"]
    assert sort["schema"] == {"type": "string", "enum": ["distance", "confirmed_first"], "default": "distance"}
    assert "confirmed_first" in sort["description"]
