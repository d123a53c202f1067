"""Radius search: exact against a brute-force geodesic scan of the real nationwide data, from the
search rows in memory and from the database."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
import zipcodes
from geopy.distance import geodesic
from sqlalchemy import create_engine, text, update

from directory.models import Center
from directory.models.base import utcnow
from directory.search import engine, memory, statements
from directory.search.engine import (
    SearchFilters,
    SearchQuery,
    candidate_select,
    find_centers_near,
    matching_center_distances,
)
from directory.search.geocoding import OfflineGeocoder, Place
from directory.search.geodesy import bounding_box, geodesic_miles
from directory.vocabulary import expand_medication_filter
from tests.conftest import seeded_url
from tests.factories import add_centers, center_record


@pytest.fixture(autouse=True, params=["search rows in memory", "database"])
def search_path(request, monkeypatch):
    """Every test here runs twice: the app's searches answered from the copy of the search rows
    in memory (memory.py), and by the database's own statements."""
    if request.param == "database":
        monkeypatch.setattr(memory, "index_for", lambda session: None)
    return request.param


#: Points closer than this to the radius may fall either side by float rounding alone.
BOUNDARY_MILES = 1e-6


def brute_force(centers, origin: Place, radius: float, keep=lambda c: True):
    """Every center within the radius by geopy's geodesic, in (distance, name, id) order.

    A full scan: every center is measured. To keep the suite quick, geopy (Karney's exact
    algorithm) measures every center the vectorised formula puts within 1.05 x the radius;
    those beyond are far from the boundary (the two agree to 1e-9, tested below).
    """
    lats = np.array([c["latitude"] for c in centers])
    lons = np.array([c["longitude"] for c in centers])
    rough = geodesic_miles(origin.latitude, origin.longitude, lats, lons)
    found = []
    for c, d_rough in zip(centers, rough, strict=True):
        if d_rough > radius * 1.05 + 0.01 or not keep(c):
            continue
        d = geodesic((origin.latitude, origin.longitude), (c["latitude"], c["longitude"])).miles
        if d <= radius + BOUNDARY_MILES:
            found.append((d, c["name"], c["id"]))
    found.sort()
    return found


@pytest.fixture(scope="module")
def seed_centers(seeded_database):
    """Every seeded center's id, name, point and codes, read straight from the database."""
    engine = create_engine(seeded_url(seeded_database))
    with engine.connect() as connection:
        centers = {
            row[0]: {"id": row[0], "name": row[1], "latitude": row[2], "longitude": row[3], "codes": {}}
            for row in connection.execute(text("SELECT id, name, latitude, longitude FROM centers"))
        }
        for center_id, kind, code in connection.execute(text("SELECT center_id, kind, code FROM center_attributes")):
            centers[center_id]["codes"].setdefault(kind, set()).add(code)
    engine.dispose()
    return list(centers.values())


def random_places(n: int, seed: int) -> list[Place]:
    """Random real ZIP points (some dense, some rural) plus a few awkward places."""
    rng = random.Random(seed)
    zips = [z for z in zipcodes.list_all() if z["zip_code_type"] == "STANDARD" and float(z["lat"]) != 0]
    geocoder = OfflineGeocoder()
    places = [geocoder.locate(z["zip_code"]) for z in rng.sample(zips, n)]
    places += [geocoder.locate(t) for t in ("New York, NY", "Anchorage, AK", "Honolulu, HI", "San Juan, PR")]
    return places


@pytest.mark.parametrize("radius", [10, 25, 100])
def test_search_matches_brute_force_geodesic_scan(seeded_session, seed_centers, radius):
    centers = seed_centers
    for origin in random_places(40, seed=radius):
        ids, distances = matching_center_distances(seeded_session, SearchQuery(origin=origin, radius_miles=radius))
        expected = brute_force(centers, origin, radius)
        expected_ids = [i for d, _, i in expected if d <= radius - BOUNDARY_MILES or i in ids]
        assert ids == expected_ids, f"near {origin.label} within {radius} mi"
        for got, (want, _, _) in zip(distances, expected, strict=False):
            assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_filters_match_brute_force(seeded_session, seed_centers):
    centers = seed_centers
    rng = random.Random(7)
    for origin in random_places(30, seed=99):
        filters = SearchFilters(
            level_of_care=tuple(rng.sample(["medical_detox", "residential", "outpatient"], rng.randint(0, 2))),
            payment=tuple(rng.sample(["medicaid", "self_pay", "private_insurance"], rng.randint(0, 2))),
            medication=tuple(rng.sample(["naltrexone", "buprenorphine"], rng.randint(0, 1))),
            language=("es",) if rng.random() < 0.3 else (),
        )
        medications = set(expand_medication_filter(list(filters.medication)))

        def keep(c, filters=filters, medications=medications):
            codes = c["codes"]
            return (
                (not filters.level_of_care or codes.get("levels_of_care", set()) & set(filters.level_of_care))
                and (not filters.payment or codes.get("payment_options", set()) & set(filters.payment))
                and (not medications or codes.get("medications", set()) & medications)
                and (not filters.language or codes.get("languages", set()) & set(filters.language))
            )

        expected = [i for _, _, i in brute_force(centers, origin, 60, keep)]
        query = SearchQuery(origin=origin, radius_miles=60, filters=filters, per_page=100)
        ids, _ = matching_center_distances(seeded_session, query)
        assert ids == expected, filters
        result = find_centers_near(seeded_session, query)  # on SQLite: the counted path, its own SQL
        assert (result.total, [hit.center.id for hit in result.hits]) == (len(expected), expected[:100]), filters


def test_naltrexone_filter_means_either_form(session):
    add_centers(
        session,
        center_record(name="Oral", medications=["naltrexone_oral"]),
        center_record(name="Injection", medications=["naltrexone_injectable"]),
        center_record(name="Bup only", medications=["buprenorphine"]),
    )
    origin = OfflineGeocoder().locate("60601")
    result = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(medication=("naltrexone",))))
    assert sorted(h.center.name for h in result.hits) == ["Injection", "Oral"]


def test_pathway_needs_detox_and_naltrexone_at_one_center(session):
    add_centers(
        session,
        center_record(name="Both", levels_of_care=["medical_detox", "residential"], medications=["naltrexone_oral"]),
        center_record(name="Detox only", levels_of_care=["medical_detox"]),
        center_record(name="Naltrexone only", medications=["naltrexone_injectable"]),
    )
    origin = OfflineGeocoder().locate("60601")
    result = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(pathway="detox_naltrexone")))
    assert [h.center.name for h in result.hits] == ["Both"]


def test_several_values_of_one_filter_are_any_different_filters_are_all(session):
    add_centers(
        session,
        center_record(name="Medicaid detox", levels_of_care=["medical_detox"], payment_options=["medicaid"]),
        center_record(name="Self-pay detox", levels_of_care=["medical_detox"], payment_options=["self_pay"]),
        center_record(name="Medicaid outpatient", levels_of_care=["outpatient"], payment_options=["medicaid"]),
    )
    origin = OfflineGeocoder().locate("60601")
    any_payment = SearchFilters(payment=("medicaid", "self_pay"))
    both = SearchFilters(payment=("medicaid",), level_of_care=("medical_detox",))
    assert find_centers_near(session, SearchQuery(origin, 5, any_payment)).total == 3
    assert [h.center.name for h in find_centers_near(session, SearchQuery(origin, 5, both)).hits] == ["Medicaid detox"]


def test_accepting_referrals_and_verified_only(session):
    now = utcnow()
    add_centers(
        session,
        center_record(name="Open, confirmed", last_verified_at=now - timedelta(days=10)),
        center_record(name="Open, confirmed long ago", last_verified_at=now - timedelta(days=200)),
        center_record(name="Full", accepting_referrals=False),
    )
    origin = OfflineGeocoder().locate("60601")
    accepting = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(accepting_referrals=True)))
    assert sorted(h.center.name for h in accepting.hits) == ["Open, confirmed", "Open, confirmed long ago"]
    verified = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(verified_only=True)))
    assert [h.center.name for h in verified.hits] == ["Open, confirmed"]


def test_ties_in_distance_are_ordered_by_name(session):
    add_centers(session, *(center_record(name=name) for name in ("Charlie", "alpha", "Bravo")))
    origin = OfflineGeocoder().locate("60601")
    names = [h.center.name for h in find_centers_near(session, SearchQuery(origin, 5)).hits]
    assert names == sorted(names)


def test_pagination_counts_everything_and_pages_through_in_order(seeded_session):
    origin = OfflineGeocoder().locate("New York, NY")
    everything, distances = matching_center_distances(seeded_session, SearchQuery(origin, 10))
    assert len(everything) > 200
    assert distances == sorted(distances)
    paged = []
    page = 1
    while True:
        result = find_centers_near(seeded_session, SearchQuery(origin, 10, page=page, per_page=100))
        assert result.total == len(everything)
        if not result.hits:
            break
        paged += [h.center.id for h in result.hits]
        page += 1
    assert paged == everything
    assert result.pages == -(-len(everything) // 100)


def test_search_across_the_antimeridian(session):
    add_centers(
        session,
        center_record(name="West of the line", city="Adak", state="AK", zip="99546", latitude=51.88, longitude=179.9),
        center_record(name="East of the line", city="Adak", state="AK", zip="99546", latitude=51.88, longitude=-179.9),
    )
    origin = Place("Adak", 51.88, 179.95)
    names = [h.center.name for h in find_centers_near(session, SearchQuery(origin, 20)).hits]
    assert names == ["West of the line", "East of the line"]


def test_unfiltered_matches_across_the_antimeridian_take_both_longitude_ranges(session):
    add_centers(
        session,
        center_record(name="West of the line", city="Adak", state="AK", zip="99546", latitude=51.88, longitude=179.9),
        center_record(name="East of the line", city="Adak", state="AK", zip="99546", latitude=51.88, longitude=-179.9),
    )
    ids, distances = matching_center_distances(session, SearchQuery(Place("Adak", 51.88, 179.95), 20))
    assert len(ids) == 2 and distances == sorted(distances)


@pytest.mark.parametrize("postgis", [True, False], ids=["as installed", "PostgreSQL without PostGIS"])
def test_unfiltered_matches_come_straight_from_the_driver_as_the_general_statement_finds_them(
    seeded_session, monkeypatch, postgis
):
    """What the router reads for each referral: a statement built once, the place bound at
    execution (SQLite's R*Tree; PostGIS's sphere, or the box without it), the same answer as the
    statement `candidate_select` builds for each search."""
    if not postgis:
        if seeded_session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL only (the PostgreSQL pass runs it)")
        monkeypatch.setattr(engine, "uses_postgis", lambda session: False)
    places = [(origin, radius) for origin in random_places(40, seed=11) for radius in (10, 60, 250)]
    direct: list[str] = []
    statements.LISTENERS.append(lambda sql, params: direct.append(sql))
    try:
        answers = [matching_center_distances(seeded_session, SearchQuery(origin, radius)) for origin, radius in places]
    finally:
        statements.LISTENERS.pop()
    assert len(direct) == len(places)  # one statement each, straight to the driver
    monkeypatch.setattr(
        engine, "_unfiltered_candidates", lambda session, query: session.execute(candidate_select(session, query)).all()
    )
    for (origin, radius), (ids, distances) in zip(places, answers, strict=True):
        expected_ids, expected_distances = matching_center_distances(seeded_session, SearchQuery(origin, radius))
        assert ids == expected_ids
        assert distances == expected_distances
    assert sum(len(ids) for ids, _ in answers) > 1000


def test_changed_coordinates_move_the_center_in_the_index(session):
    add_centers(session, center_record(name="Mover"))
    origin = OfflineGeocoder().locate("60601")
    assert find_centers_near(session, SearchQuery(origin, 5)).total == 1
    session.execute(update(Center).values(latitude=30.0, longitude=-90.0))
    session.commit()
    assert find_centers_near(session, SearchQuery(origin, 5)).total == 0
    assert find_centers_near(session, SearchQuery(Place("x", 30.0, -90.0), 1)).total == 1


@pytest.mark.parametrize(
    ("lat", "lon", "radius"), [(0, 0, 500), (64.8, -147.7, 500), (71.29, -156.79, 300), (-14.3, -170.7, 50)]
)
def test_bounding_box_contains_the_whole_circle(lat, lon, radius):
    box = bounding_box(lat, lon, radius)
    rng = random.Random(1)
    for _ in range(2000):
        # Points on the circle itself, by geopy's exact destination.
        point = geodesic(miles=radius).destination((lat, lon), rng.uniform(0, 360))
        assert box.south <= point.latitude <= box.north
        assert any(w <= point.longitude <= e for w, e in box.longitude_ranges)


def test_vectorised_distance_agrees_with_geopy():
    rng = np.random.default_rng(3)
    lats, lons = rng.uniform(-60, 70, 500), rng.uniform(-180, 180, 500)
    for lat0, lon0 in [(40.7, -74.0), (61.2, -149.9), (18.4, -66.1)]:
        near_lats = lat0 + rng.uniform(-6, 6, 500)
        near_lons = lon0 + rng.uniform(-8, 8, 500)
        ours = geodesic_miles(lat0, lon0, near_lats, near_lons)
        reference = [geodesic((lat0, lon0), (a, b)).miles for a, b in zip(near_lats, near_lons, strict=True)]
        assert np.allclose(ours, reference, rtol=1e-9, atol=1e-9)
    assert geodesic_miles(10.0, 10.0, np.array([10.0]), np.array([10.0]))[0] == 0.0
    assert lats.size == lons.size


def test_query_rejects_out_of_range_values():
    origin = Place("x", 0, 0)
    with pytest.raises(ValueError):
        SearchQuery(origin, 0)
    with pytest.raises(ValueError):
        SearchQuery(origin, 501)
    with pytest.raises(ValueError):
        SearchQuery(origin, 25, per_page=101)


@pytest.mark.parametrize("sort", ["distance", "confirmed_first"])
def test_every_page_agrees_with_the_full_ordered_list(seeded_session, sort):
    """find_centers_near counts and ranks without measuring every candidate: its totals, pages
    and distances must equal those of the complete list, for every filter, page size and sort."""
    rng = random.Random(11)
    now = utcnow()
    filter_choices = [
        SearchFilters(),
        SearchFilters(medication=("naltrexone",)),
        SearchFilters(payment=("medicaid",), accepting_referrals=True),
        SearchFilters(verified_only=True),
        SearchFilters(pathway="detox_naltrexone"),
    ]
    for origin in random_places(12, seed=5):
        radius = rng.choice([5, 25, 60, 200, 500])
        filters = rng.choice(filter_choices)
        per_page = rng.choice([1, 7, 20, 100])
        everything = SearchQuery(origin, radius, filters, sort=sort)
        ids, distances = matching_center_distances(seeded_session, everything, now=now)
        for page in (1, 2, 5):
            query = SearchQuery(origin, radius, filters, page=page, per_page=per_page, sort=sort)
            result = find_centers_near(seeded_session, query, now=now)
            window = slice((page - 1) * per_page, page * per_page)
            assert result.total == len(ids), (origin.label, radius, filters)
            assert [h.center.id for h in result.hits] == ids[window], (origin.label, radius, filters, page)
            assert np.allclose([h.distance_miles for h in result.hits], distances[window], rtol=0, atol=1e-9)
