"""The search rows in memory (directory/search/memory.py): the same answers as the database's
search, for every filter, order, page and awkward place, and never from a stale copy."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from directory import create_app
from directory.models import Center
from directory.models.base import utcnow
from directory.search import engine, kernels, memory, postgres
from directory.search.engine import SearchFilters, SearchQuery, find_centers_near
from directory.search.geocoding import Place
from tests.conftest import ROOT, database_url
from tests.factories import add_centers, center_record
from tests.search.test_engine import random_places


def answer(session: Session, query: SearchQuery, now=None) -> tuple[int, list[int], list[float]]:
    result = find_centers_near(session, query, now=now)
    return result.total, [h.center.id for h in result.hits], [h.distance_miles for h in result.hits]


def from_database(session: Session, query: SearchQuery, monkeypatch: pytest.MonkeyPatch, now=None):
    with monkeypatch.context() as patch:
        patch.setattr(memory, "index_for", lambda session: None)
        return answer(session, query, now)


def from_memory(session: Session, query: SearchQuery, monkeypatch: pytest.MonkeyPatch, now=None):
    """The search answered from the copy: the database's own ranking is made to fail."""
    assert memory.index_for(session) is not None
    with monkeypatch.context() as patch:
        patch.setattr(engine, "_count_and_rank", _not_the_database)
        patch.setattr(postgres, "find_centers_near", _not_the_database)
        return answer(session, query, now)


def _not_the_database(*args, **kwargs):
    raise AssertionError("the search went to the database")


FILTERS = [
    SearchFilters(),
    SearchFilters(medication=("naltrexone",)),
    SearchFilters(payment=("medicaid",), accepting_referrals=True),
    SearchFilters(accepting_referrals=False),
    SearchFilters(level_of_care=("medical_detox", "residential"), payment=("medicaid", "private_insurance")),
    SearchFilters(language=("es",)),
    SearchFilters(language=("es", "vi"), medication=("buprenorphine",)),
    SearchFilters(language=("no-such-language",)),
    SearchFilters(verified_only=True),
    SearchFilters(pathway="detox_naltrexone"),
    SearchFilters(population=("veterans",), pathway="detox_naltrexone"),
]


@pytest.mark.parametrize("sort", ["distance", "confirmed_first"])
def test_the_copy_answers_as_the_database_does_on_the_real_directory(seeded_session, monkeypatch, sort):
    rng = random.Random(23)
    now = utcnow()
    seeded_session.execute(  # some listings confirmed, some long ago, for the confirmed-first groups
        update(Center).where(Center.id % 7 == 0).values(last_verified_at=now - timedelta(days=3))
    )
    seeded_session.execute(update(Center).where(Center.id % 11 == 0).values(last_verified_at=now - timedelta(days=900)))
    seeded_session.commit()
    places = random_places(30, seed=17)
    compared = found = 0
    for origin in places:
        for _ in range(3):
            radius = rng.choice([1, 5, 10, 25, 50, 100, 250, 500])
            filters = rng.choice(FILTERS)
            per_page = rng.choice([1, 5, 20, 100])
            page = rng.choice([1, 1, 2, 3, 40])
            query = SearchQuery(origin, radius, filters, page=page, per_page=per_page, sort=sort)
            expected = from_database(seeded_session, query, monkeypatch, now)
            assert from_memory(seeded_session, query, monkeypatch, now) == expected, (origin, radius, filters, page)
            compared += 1
            found += expected[0]
    assert compared == 3 * len(places) and found > 10_000  # the comparisons were of real answers


AWKWARD = [
    # across the antimeridian, from both sides
    (51.88, 179.99),
    (51.88, -179.99),
    (-17.7, 179.95),
    # around the North Pole and on the equator
    (89.98, 0.0),
    (89.9, 120.0),
    (0.0, 0.0),
    # on a band's edge (migration 0011: twenty bands per degree)
    (40.05, -75.0),
]


@pytest.fixture
def awkward_directory(session):
    """Centers around places where boxes wrap or bands meet: pairs at one point (equal distances,
    broken by name, then id), and a spread of filters and languages."""
    rng = random.Random(5)
    now = utcnow()
    records = []
    for lat, lon in AWKWARD:
        for i in range(40):
            point_lat = max(-90.0, min(90.0, lat + rng.uniform(-0.4, 0.4)))
            point_lon = (lon + rng.uniform(-0.6, 0.6) + 180) % 360 - 180
            for twin in range(1 + (i % 5 == 0)):  # every fifth point twice: a tie in distance
                records.append(
                    center_record(
                        name=rng.choice(["Alpha", "Bravo", "Charlie"]) if twin else f"Center {lat} {lon} {i}",
                        latitude=point_lat,
                        longitude=point_lon,
                        levels_of_care=rng.sample(["outpatient", "medical_detox", "residential"], rng.randint(1, 2)),
                        payment_options=rng.sample(["medicaid", "self_pay", "private_insurance"], rng.randint(1, 2)),
                        medications=rng.sample(["naltrexone_injectable", "buprenorphine"], rng.randint(0, 2)),
                        languages=rng.sample(["es", "vi", "zh"], rng.randint(0, 2)),
                        accepting_referrals=rng.random() < 0.7,
                        last_verified_at=now - timedelta(days=rng.choice([1, 100, 400]))
                        if rng.random() < 0.5
                        else None,
                    )
                )
    add_centers(session, *records)
    return now


def test_the_copy_answers_as_the_database_does_where_boxes_wrap_and_distances_tie(
    session, awkward_directory, monkeypatch
):
    rng = random.Random(8)
    now = awkward_directory
    compared = found = 0
    for lat, lon in AWKWARD:
        for radius in (2, 10, 30, 120):
            for sort in ("distance", "confirmed_first"):
                filters = rng.choice(FILTERS)
                for page, per_page in ((1, 3), (2, 3), (1, 100)):
                    query = SearchQuery(Place("x", lat, lon), radius, filters, page=page, per_page=per_page, sort=sort)
                    expected = from_database(session, query, monkeypatch, now)
                    assert from_memory(session, query, monkeypatch, now) == expected, (lat, lon, radius, filters)
                    compared += 1
                    found += expected[0]
    assert compared == len(AWKWARD) * 4 * 2 * 3 and found > 1000


@pytest.fixture
def accepting(session) -> SearchQuery:
    """A search for centers accepting referrals, around the one center there is, which does."""
    add_centers(session, center_record(name="Open", accepting_referrals=True))
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5, SearchFilters(accepting_referrals=True))
    assert answer(session, query)[0] == 1
    return query


def test_a_change_committed_anywhere_is_in_the_next_search(session, accepting):
    first = memory.index_for(session)
    with Session(session.get_bind()) as other:  # another connection commits
        other.execute(update(Center).values(accepting_referrals=False))
        other.commit()
    assert answer(session, accepting)[0] == 0
    assert memory.index_for(session).revision > first.revision


def test_a_session_with_its_own_uncommitted_changes_is_answered_by_the_database(session, accepting):
    kept = memory.index_for(session)
    session.execute(update(Center).values(accepting_referrals=False))  # not committed
    assert memory.index_for(session) is None
    assert answer(session, accepting)[0] == 0  # its own change, seen
    session.rollback()
    assert memory.index_for(session) is kept  # the copy was not touched by the change rolled back
    assert answer(session, accepting)[0] == 1


def test_pending_changes_are_not_answered_from_the_copy(session, accepting):
    session.query(Center).one().accepting_referrals = False  # pending, not flushed
    assert memory.index_for(session) is None
    assert answer(session, accepting)[0] == 0


def test_in_the_background_the_database_answers_until_the_copy_is_read(session):
    add_centers(session, center_record(name="First"))
    bind = session.get_bind()
    memory.enable(bind, background=True)
    copy = memory._copies[bind]
    origin = Place("Chicago", 41.8855, -87.6217)
    assert answer(session, SearchQuery(origin, 5))[0] == 1  # from the database; a copy is being read
    copy.reading.join(timeout=30)
    assert memory.index_for(session) is not None
    add_centers(session, center_record(name="Second"))
    assert memory.index_for(session) is None  # stale: the database answers meanwhile
    assert answer(session, SearchQuery(origin, 5))[0] == 2
    copy.reading.join(timeout=30)
    assert len(memory.index_for(session)) == 2


def test_a_copy_that_cannot_be_read_leaves_the_searches_to_the_database(session, monkeypatch, caplog):
    add_centers(session, center_record(name="First"))
    calls = []

    def broken(connection, listings_held):
        calls.append(1)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(memory, "read_index", broken)
    origin = Place("Chicago", 41.8855, -87.6217)
    with caplog.at_level(logging.ERROR, logger="directory.search.memory"):
        assert answer(session, SearchQuery(origin, 5))[0] == 1
        assert answer(session, SearchQuery(origin, 5))[0] == 1
    assert len(calls) == 1  # not tried again until the directory changes
    assert "Reading the search rows into memory failed" in caplog.text


def test_a_ranking_that_cannot_be_compiled_leaves_the_searches_to_the_database(session, monkeypatch, caplog):
    add_centers(session, center_record(name="First"))

    def no_compiler():
        raise RuntimeError("cannot cache function 'candidates': no locator available")

    monkeypatch.setattr(kernels, "compiled", no_compiler)
    origin = Place("Chicago", 41.8855, -87.6217)
    with caplog.at_level(logging.ERROR, logger="directory.search.memory"):
        assert answer(session, SearchQuery(origin, 5))[0] == 1
    assert memory.index_for(session) is None
    assert "no locator available" in caplog.text


def test_numba_is_loaded_only_by_a_process_that_reads_a_copy(tmp_path):
    """Loading Numba costs a process about 0.4 s and 100 MB: an app that has not read a copy of
    the search rows (a Celery worker, a command) never loads it."""
    code = f"""
import sys
from directory import create_app
from directory.extensions import db
from directory.search import memory
from tests.conftest import make_app
app = make_app({database_url(tmp_path)!r}, SEARCH_INDEX_IN_MEMORY="background")
assert "numba" not in sys.modules, "creating the app loaded Numba"
with app.app_context():
    memory.refresh(db.engine)
assert "numba" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_concurrent_searches_share_one_copy(seeded_session):
    bind = seeded_session.get_bind()
    memory.enable(bind, background=False)
    origin = Place("Chicago", 41.8855, -87.6217)
    answers, errors = [], []

    def search() -> None:
        try:
            with Session(bind) as own:
                answers.append(answer(own, SearchQuery(origin, 25)))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(answers) == 8 and all(a == answers[0] for a in answers)
    assert answers[0][0] > 50


def test_the_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match="SEARCH_INDEX_IN_MEMORY must be one of background, inline, off"):
        create_app(
            {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SEARCH_INDEX_IN_MEMORY": "yes"}
        )


def test_off_means_every_search_goes_to_the_database(tmp_path):
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SEARCH_INDEX_IN_MEMORY": "off"}
    )
    with app.app_context():
        from directory.extensions import db

        assert db.engine not in memory._copies


def test_an_empty_directory_is_answered_from_an_empty_copy(session, monkeypatch):
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 500)
    assert from_memory(session, query, monkeypatch) == (0, [], [])
    assert len(memory.index_for(session)) == 0


def test_the_copy_puts_each_row_in_the_band_the_searches_look_in(seeded_session):
    """Rows are sorted by band as `engine._band` numbers them, which is how a search picks bands."""
    index = memory.index_for(seeded_session)
    bands = [engine._band(latitude) for latitude in index.latitudes.tolist()]
    expected = [band * memory.KEY_STRIDE + lon for band, lon in zip(bands, index.longitudes.tolist(), strict=True)]
    assert (index.keys == expected).all()
    assert (index.keys[1:] >= index.keys[:-1]).all()


def test_a_copy_read_while_the_directory_changed_is_read_again(session, monkeypatch):
    add_centers(session, center_record(name="Open", accepting_referrals=True))
    read_rows = memory._read_rows
    calls = []

    def changed_meanwhile(connection, revision, listings_held):
        calls.append(revision)
        index = read_rows(connection, revision, listings_held)
        if len(calls) == 1:  # another process commits while the copy is read
            with Session(session.get_bind()) as other:
                other.execute(update(Center).values(accepting_referrals=False))
                other.commit()
        return index

    monkeypatch.setattr(memory, "_read_rows", changed_meanwhile)
    with session.get_bind().connect() as connection:
        index = memory.read_index(connection)
    assert len(calls) == 2 and calls[1] > calls[0]
    assert index.revision == calls[1]
    assert not (index.masks & memory.ACCEPTING_REFERRALS).any()


# --- the listings the copy holds --------------------------------------------------------------


def _no_listing_statement(*args, **kwargs):
    raise AssertionError("the listings were read from the database")


def test_the_copy_holds_the_listings_its_pages_showed(session, monkeypatch):
    add_centers(session, *(center_record(name=f"Center {i}", latitude=41.88 + i / 1000) for i in range(5)))
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5, per_page=3)
    first = find_centers_near(session, query)
    index = memory.index_for(session)
    assert len(index.listings) == 3  # the page's, not the other two
    with monkeypatch.context() as patch:
        patch.setattr(memory, "load_listings_at_revision", _no_listing_statement)
        again = find_centers_near(session, query)
    assert [hit.center for hit in again.hits] == [hit.center for hit in first.hits]
    assert all(a.center is b.center for a, b in zip(again.hits, first.hits, strict=True))
    second_page = find_centers_near(session, SearchQuery(query.origin, 5, page=2, per_page=3))
    assert len(second_page.hits) == 2 and len(index.listings) == 5


def test_a_listing_changed_anywhere_is_shown_changed_by_the_next_search(session):
    add_centers(session, center_record(name="Open", phone="(312) 555-0100"))
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5)
    assert find_centers_near(session, query).hits[0].center.phone == "(312) 555-0100"
    session.commit()
    with Session(session.get_bind()) as other:  # a field no search filters on, changed elsewhere
        other.execute(update(Center).values(phone="(312) 555-0199", beds_available=4))
        other.commit()
    listing = find_centers_near(session, query).hits[0].center
    assert (listing.phone, listing.beds_available) == ("(312) 555-0199", 4)


def test_listings_read_at_another_revision_than_the_copys_are_shown_but_not_held(session, monkeypatch):
    add_centers(session, center_record(name="Open", phone="(312) 555-0100"))
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5)
    session.commit()
    index = memory.index_for(session)
    session.rollback()
    read = memory.load_listings_at_revision

    def changed_meanwhile(*args, **kwargs):  # another process commits between the ranking and the listings
        with Session(session.get_bind()) as other:
            other.execute(update(Center).values(phone="(312) 555-0199"))
            other.commit()
        return read(*args, **kwargs)

    monkeypatch.setattr(memory, "load_listings_at_revision", changed_meanwhile)
    result = find_centers_near(session, query)
    assert result.hits[0].center.phone == "(312) 555-0199"  # what the database holds now
    assert len(index.listings) == 0  # not kept with the copy of the revision before
    monkeypatch.setattr(memory, "load_listings_at_revision", read)
    session.rollback()
    newer = memory.index_for(session)
    assert newer.revision > index.revision
    assert find_centers_near(session, query).hits[0].center.phone == "(312) 555-0199"
    assert len(newer.listings) == 1


def test_the_listings_held_are_bounded():
    listings = {i: object() for i in range(5)}
    held = memory.HeldListings(3)
    held.keep({i: listings[i] for i in (0, 1)})
    held.keep({i: listings[i] for i in (2, 3, 4)})
    found, missing = held.find(range(5))
    assert sorted(found) == [2, 3, 4] and missing == [0, 1]  # the first kept went first
    none = memory.HeldListings(0)
    none.keep(listings)
    assert len(none) == 0


def test_no_listings_held_means_every_page_reads_them(session, monkeypatch):
    memory.enable(session.get_bind(), background=False, listings_held=0)
    add_centers(session, center_record(name="Open"))
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5)
    assert find_centers_near(session, query).total == 1
    assert len(memory.index_for(session).listings) == 0
    with pytest.raises(ValueError, match="listings_held must be 0 or more"):
        memory.enable(session.get_bind(), listings_held=-1)


def test_the_listings_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match="SEARCH_LISTINGS_IN_MEMORY must be 0 or more, not -5"):
        create_app(
            {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "SEARCH_LISTINGS_IN_MEMORY": -5}
        )


def test_a_search_whose_listings_the_copy_holds_begins_no_transaction_of_the_session(session):
    add_centers(session, center_record(name="A"), center_record(name="B"))  # one point: a tie broken by name
    session.commit()
    query = SearchQuery(Place("Chicago", 41.8855, -87.6217), 5)
    first = find_centers_near(session, query)
    assert [hit.center.name for hit in first.hits] == ["A", "B"]
    with Session(session.get_bind()) as fresh:
        again = find_centers_near(fresh, query)
        assert not fresh.in_transaction()  # the revision read through a pooled connection; names and listings held
    assert [hit.center for hit in again.hits] == [hit.center for hit in first.hits]
