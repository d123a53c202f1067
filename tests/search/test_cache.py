"""The search-results cache: keyed on the normalized search, never stale after a change to the
directory, whoever made it (this app, another connection, another process), bounded, and off at 0."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from directory.api.schemas import SearchResponse
from directory.extensions import db
from directory.models import Center
from directory.models.base import utcnow
from directory.search.cache import SearchCache, read_directory_revision, search_key
from directory.search.engine import SearchFilters, SearchQuery
from directory.search.geocoding import OfflineGeocoder
from tests.conftest import ROOT, database_url, make_app
from tests.factories import add_centers, center_record
from tests.portal.conftest import Store, cast, edit_data, sign_in, store  # noqa: F401  (shared fixtures)

SEARCH = "/api/v1/centers/search?near=60601&radius_miles=10"


def cache_of(app: Flask) -> SearchCache:
    return app.extensions["search_cache"]


def names(client: FlaskClient, path: str = SEARCH) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.data[:300]
    return [center["name"] for center in response.get_json()["results"]]


def other_engine(app: Flask):
    """A connection pool of its own on the app's database, as another process would have."""
    return create_engine(app.config["DATABASE_URL"])


# --- the key ---------------------------------------------------------------------------------

GEOCODER = OfflineGeocoder()


def query(near: str = "60601", **changes) -> SearchQuery:
    filters = changes.pop("filters", SearchFilters())
    return SearchQuery(origin=GEOCODER.locate(near), filters=filters, **changes)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (query("19104"), query(" 19104 ")),
        (query("19104"), query("19104-2816")),
        (query("Chicago, IL"), query("chicago il")),
        (
            query(filters=SearchFilters(payment=("medicaid", "self_pay"))),
            query(filters=SearchFilters(payment=("self_pay", "medicaid", "medicaid"))),
        ),
        (
            query(filters=SearchFilters(medication=("naltrexone",))),
            query(filters=SearchFilters(medication=("naltrexone_injectable", "naltrexone_oral"))),
        ),
        (query(radius_miles=25), query(radius_miles=25.0)),
    ],
)
def test_searches_that_mean_the_same_share_a_key(one, other):
    assert search_key(one) == search_key(other)


@pytest.mark.parametrize(
    "other",
    [
        query("60614"),
        query(radius_miles=26),
        query(page=2),
        query(per_page=10),
        query(sort="confirmed_first"),
        query(filters=SearchFilters(payment=("medicaid",))),
        query(filters=SearchFilters(accepting_referrals=True)),
        query(filters=SearchFilters(accepting_referrals=False)),
        query(filters=SearchFilters(verified_only=True)),
        query(filters=SearchFilters(pathway="detox_naltrexone")),
        query(filters=SearchFilters(language=("es",))),
    ],
)
def test_searches_that_differ_have_different_keys(other):
    assert search_key(query()) != search_key(other)


def test_spellings_of_one_place_share_an_entry_and_each_answer_names_its_own_request(client, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    first = client.get("/api/v1/centers/search?near=60601").get_json()
    second = client.get("/api/v1/centers/search?near=%2060601%20&radius_miles=25.0").get_json()
    assert (cache_of(client.application).hits, cache_of(client.application).misses) == (1, 1)
    assert first == second
    assert [r["name"] for r in second["results"]] == ["Alpha Recovery"]


def test_the_api_remembers_what_a_query_string_meant_and_still_refuses_bad_ones(client, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    cache = cache_of(client.application)
    assert names(client) == ["Alpha Recovery"]
    remembered = cache.query_for(SEARCH.partition("?")[2])
    assert remembered is not None and remembered.origin.label.startswith("60601")
    for _ in range(2):
        response = client.get("/api/v1/centers/search?near=60601&radius_miles=900")
        assert response.status_code == 400
        assert response.get_json()["fields"] == {"radius_miles": ["Choose a distance from 0.1 to 500 miles."]}
    assert cache.query_for("near=60601&radius_miles=900") is None


def test_a_rendering_is_kept_with_its_entry_per_variant_until_the_directory_changes(app, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    cache = SearchCache(10, 60)
    rendered = []

    def render(result):
        rendered.append(result.query.origin.label)
        return [hit.center.name for hit in result.hits]

    for variant in ("first", "first", "second", "first"):
        assert cache.render(session, query(), render, variant=variant) == ["Alpha Recovery"]
    assert len(rendered) == 2
    session.execute(text("UPDATE centers SET name = 'Alpha Renamed'"))
    session.commit()
    assert cache.render(session, query(), render, variant="first") == ["Alpha Renamed"]
    assert len(rendered) == 3


# --- never stale -----------------------------------------------------------------------------


def test_a_cached_search_is_served_from_the_cache(client, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    assert names(client) == names(client) == ["Alpha Recovery"]
    assert (cache_of(client.application).hits, cache_of(client.application).misses) == (1, 1)


def _portal_edit(client, store, cast):  # noqa: F811
    sign_in(client, cast.staff_a)
    response = client.post(f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, name="Alpha Renamed"))
    assert response.status_code == 302


def _api_edit(client, store, cast):  # noqa: F811
    from tests.api.test_portal_api import token_for

    response = client.patch(
        f"/api/v1/centers/{cast.a.id}", json={"name": "Alpha Renamed"}, headers=token_for(store, cast.admin)
    )
    assert response.status_code == 200


def _portal_capacity(client, store, cast):  # noqa: F811
    sign_in(client, cast.staff_a)
    response = client.post(f"/portal/centers/{cast.a.id}/capacity", data={"accepting_referrals": "false"})
    assert response.status_code == 302


def _api_capacity(client, store, cast):  # noqa: F811
    from tests.api.test_portal_api import token_for

    response = client.put(
        f"/api/v1/centers/{cast.a.id}/capacity",
        json={"accepting_referrals": False},
        headers=token_for(store, cast.admin),
    )
    assert response.status_code == 200


def _portal_attributes(client, store, cast):  # noqa: F811
    sign_in(client, cast.staff_a)
    data = edit_data(cast.a, languages=[])
    response = client.post(f"/portal/centers/{cast.a.id}/edit", data=data)
    assert response.status_code == 302


def _sql_from_another_connection(statement: str) -> Callable:
    def change(client, store, cast):  # noqa: F811
        engine = other_engine(client.application)
        with engine.begin() as connection:
            connection.execute(text(statement), {"id": cast.a.id})
        engine.dispose()

    return change


def _import_from_another_connection(client, store, cast):  # noqa: F811
    engine = other_engine(client.application)
    with Session(engine) as session:
        add_centers(session, center_record(name="Alpha Newcomer", zip="60601"))
    engine.dispose()


#: (change, search path, what the search shows before, and after the change)
CHANGES = {
    "portal edit": (_portal_edit, SEARCH, "Alpha Recovery", "Alpha Renamed"),
    "API edit": (_api_edit, SEARCH, "Alpha Recovery", "Alpha Renamed"),
    "portal capacity": (_portal_capacity, SEARCH + "&accepting_referrals=true", "Alpha Recovery", None),
    "API capacity": (_api_capacity, SEARCH + "&accepting_referrals=true", "Alpha Recovery", None),
    "portal attributes": (_portal_attributes, SEARCH + "&language=es", "Alpha Recovery", None),
    "attribute deleted elsewhere": (
        _sql_from_another_connection("DELETE FROM center_attributes WHERE center_id = :id AND kind = 'languages'"),
        SEARCH + "&language=es",
        "Alpha Recovery",
        None,
    ),
    "attribute added elsewhere": (
        _sql_from_another_connection(
            "INSERT INTO center_attributes (center_id, kind, code) VALUES (:id, 'medications', 'methadone')"
        ),
        SEARCH + "&medication=methadone",
        None,
        "Alpha Recovery",
    ),
    "edited elsewhere": (
        _sql_from_another_connection("UPDATE centers SET name = 'Alpha Renamed' WHERE id = :id"),
        SEARCH,
        "Alpha Recovery",
        "Alpha Renamed",
    ),
    "capacity elsewhere": (
        _sql_from_another_connection("UPDATE centers SET accepting_referrals = false WHERE id = :id"),
        SEARCH + "&accepting_referrals=true",
        "Alpha Recovery",
        None,
    ),
    "deleted elsewhere": (
        _sql_from_another_connection("DELETE FROM centers WHERE id = :id"),
        SEARCH,
        "Alpha Recovery",
        None,
    ),
    "imported elsewhere": (_import_from_another_connection, SEARCH, None, "Alpha Newcomer"),
}


@pytest.mark.parametrize("kind", list(CHANGES))
@pytest.mark.parametrize("page", ["api", "html"])
def test_a_cached_search_shows_every_change_on_the_next_request(app, store, cast, kind, page):  # noqa: F811
    change, path, before, after = CHANGES[kind]
    if kind == "deleted elsewhere":  # the accounts of center A would hold on to it
        with store.session() as session:
            session.execute(text("DELETE FROM center_staff WHERE center_id = :id"), {"id": cast.a.id})
            session.commit()
    if page == "html":
        path = path.replace("/api/v1/centers/search", "/search")
    searcher, editor = app.test_client(), app.test_client()

    def shown(name: str | None) -> bool:
        response = searcher.get(path)
        assert response.status_code == 200
        if page == "api":
            found = [center["name"] for center in response.get_json()["results"]]
        else:
            found = [n for n in ("Alpha Recovery", "Alpha Renamed", "Alpha Newcomer") if n in response.text]
        return name in found if name else True

    for _ in range(2):  # the second answer comes from the cache
        assert shown(before)
        assert after is None or after == before or not shown(after)
    assert cache_of(app).hits >= 1
    change(editor, store, cast)
    assert shown(after)
    if before and before != after:
        assert not shown(before)


def test_an_import_by_another_process_shows_on_the_next_request(app, tmp_path):
    client = app.test_client()
    assert names(client) == names(client) == []
    csv = tmp_path / "centers.csv"
    header = (ROOT / "seeds" / "centers.csv").open().readline()
    csv.write_text(
        header + "test:elsewhere,Imported Elsewhere,,1 Main St,,Chicago,IL,60601,(312) 555-0100,,,41.8855,-87.6217,"
        "outpatient,self_pay,,,,true,,,test,2026,\n"
    )
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "GEOCODER": "offline"}
    command = [sys.executable, "-m", "flask", "--app", "directory", "centers", "import", str(csv)]
    completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert names(client) == ["Imported Elsewhere"]


def test_the_revision_changes_with_each_committed_change_and_not_with_a_rolled_back_one(app, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    before = read_directory_revision(session)
    session.commit()
    center = session.scalar(select(Center))
    center.beds_available = 3
    session.flush()
    session.rollback()
    assert read_directory_revision(session) == before
    session.commit()
    center = session.scalar(select(Center))
    center.beds_available = 3
    session.commit()
    assert read_directory_revision(session) > before


def test_a_cached_answer_opens_no_transaction_of_the_session(app, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    session.commit()
    cache = SearchCache(10, 60)
    cache.search(session, query())
    session.close()
    assert [hit.center.name for hit in cache.search(session, query()).hits] == ["Alpha Recovery"]
    assert cache.hits == 1
    assert not session.in_transaction()  # the revision came from a pooled connection of its own


def test_a_transaction_with_its_own_changes_searches_them_and_leaves_the_cache_as_committed(app, session):
    add_centers(session, center_record(name="Alpha Recovery"))
    session.commit()
    cache = SearchCache(10, 60)
    names = lambda: [hit.center.name for hit in cache.search(session, query()).hits]  # noqa: E731
    assert names() == ["Alpha Recovery"]
    before = read_directory_revision(session)
    session.scalar(select(Center)).name = "Alpha Renamed"
    session.flush()
    renamed = read_directory_revision(session)
    assert renamed > before  # the transaction's own change counts
    assert names() == ["Alpha Renamed"]  # what the transaction sees, not the cached answer
    session.rollback()
    # The next commit reaches the revision number the rolled-back transaction had: the cache
    # must not answer it with what that transaction saw.
    session.scalar(select(Center)).beds_available = 4
    session.commit()
    assert read_directory_revision(session) == renamed
    assert names() == ["Alpha Recovery"]


def test_on_postgresql_a_transaction_bumps_the_revision_once_however_many_rows_it_changes(app, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (statement triggers; SQLite's are per row)")
    before = read_directory_revision(session)
    session.commit()
    add_centers(session, *(center_record() for _ in range(5)))  # one transaction, many statements and rows
    assert read_directory_revision(session) == before + 1
    session.execute(text("UPDATE centers SET beds_available = 1"))
    session.execute(text("DELETE FROM center_attributes WHERE kind = 'payment_options'"))
    session.commit()
    assert read_directory_revision(session) == before + 2


# --- bounded, and off ------------------------------------------------------------------------


def test_the_cache_keeps_at_most_its_size_least_recently_used_out_first(tmp_path: Path):
    app = make_app(database_url(tmp_path), SEARCH_CACHE_SIZE=2)
    client = app.test_client()
    for near in ("60601", "60614", "60601", "60622"):  # no centers: each empty page counts as one
        names(client, f"/api/v1/centers/search?near={near}")
    cache = cache_of(app)
    assert (len(cache), cache.results_held) == (2, 2)
    assert (cache.hits, cache.misses) == (1, 3)
    names(client, "/api/v1/centers/search?near=60601")  # used more recently than 60614: kept
    names(client, "/api/v1/centers/search?near=60614")
    assert (cache.hits, cache.misses) == (2, 4)


def test_the_size_counts_the_centers_on_the_cached_pages(app, session):
    add_centers(session, *(center_record() for _ in range(3)))
    cache = SearchCache(4, 60)
    cache.search(session, query(per_page=3))
    cache.search(session, query(per_page=1))
    assert (len(cache), cache.results_held) == (2, 4)
    cache.search(session, query(per_page=2))  # the page of three goes
    assert (len(cache), cache.results_held) == (2, 3)
    cache.search(session, query(per_page=1))
    assert cache.hits == 1
    small = SearchCache(2, 60)
    small.search(session, query(per_page=3))  # a page larger than the whole cache is not kept
    assert (len(small), small.results_held) == (0, 0)


def test_entries_expire_after_the_age_limit(app, session):
    now = [1000.0]
    cache = SearchCache(10, 60, clock=lambda: now[0])
    add_centers(session, center_record(name="Alpha Recovery"))
    cache.search(session, query())
    now[0] += 59
    cache.search(session, query())
    assert (cache.hits, cache.misses) == (1, 1)
    now[0] += 2
    cache.search(session, query())
    assert (cache.hits, cache.misses) == (1, 2)


def test_results_that_depend_on_the_time_follow_it_within_the_age_limit(app, session):
    add_centers(session, center_record(name="Alpha Recovery", last_verified_at=utcnow() - timedelta(days=179)))
    now = [0.0]
    cache = SearchCache(10, 60, clock=lambda: now[0])
    verified = query(filters=SearchFilters(verified_only=True))
    assert cache.search(session, verified).total == 1
    now[0] += 61
    assert cache.search(session, verified, now=utcnow() + timedelta(days=2)).total == 0


@pytest.mark.parametrize("setting", [{"SEARCH_CACHE_SIZE": 0}, {"SEARCH_CACHE_SECONDS": 0}])
def test_size_or_age_zero_turns_the_cache_off(tmp_path: Path, setting):
    app = make_app(database_url(tmp_path), **setting)
    client = app.test_client()
    with app.app_context():
        add_centers(db.session, center_record(name="Alpha Recovery"))
    assert names(client) == names(client) == ["Alpha Recovery"]
    cache = cache_of(app)
    assert not cache.enabled
    assert (len(cache), cache.hits, cache.misses) == (0, 0, 0)


def test_a_negative_setting_is_refused_when_the_app_starts(tmp_path: Path):
    with pytest.raises(ValueError, match="SEARCH_CACHE_SIZE"):
        make_app(database_url(tmp_path), SEARCH_CACHE_SIZE=-1)


def test_lookups_are_counted_in_the_metrics(tmp_path: Path):
    app = make_app(database_url(tmp_path), METRICS_TOKEN="metrics-token")
    client = app.test_client()
    names(client)
    names(client)
    names(client, SEARCH + "&payment=medicaid")
    scrape = client.get("/metrics", headers={"Authorization": "Bearer metrics-token"}).text
    assert 'directory_search_cache_lookups_total{result="hit"} 1.0' in scrape
    assert 'directory_search_cache_lookups_total{result="miss"} 2.0' in scrape


# --- the answer ------------------------------------------------------------------------------


def test_the_search_answer_has_exactly_the_documented_shape(seeded_client):
    for path in (
        "/api/v1/centers/search?near=02139&radius_miles=25&per_page=100",
        "/api/v1/centers/search?near=Chicago,%20IL&medication=naltrexone&sort=confirmed_first",
    ):
        body = seeded_client.get(path).get_json()
        assert body["results"]
        assert SearchResponse.model_validate(body).model_dump(mode="json") == body
