"""Radius search: exact against a brute-force geodesic scan of the real nationwide data, on the
database of the pass (SQLite's R*Tree, or PostGIS in the PostgreSQL pass)."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
import zipcodes
from geopy.distance import geodesic
from sqlalchemy import create_engine, select, text, update

from directory.models import Center
from directory.models.base import utcnow
from directory.search.geocoding import OfflineGeocoder, Place
from directory.search.geodesy import bounding_box, geodesic_miles
from directory.search.service import SearchFilters, SearchQuery, find_centers_near
from directory.vocabulary import expand_medication_filter
from tests.conftest import seeded_url
from tests.factories import add_centers, center_record


def matching_center_distances(session, query: SearchQuery, *, now=None) -> tuple[list[int], list[float]]:
    """Ids and distances of every match of the query, in order: all of them on one page."""
    everything = SearchQuery(query.origin, query.radius_miles, query.filters, per_page=None, sort=query.sort)
    hits = find_centers_near(session, everything, now=now).hits
    return [hit.center.id for hit in hits], [hit.distance_miles for hit in hits]


def rough_miles(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Haversine miles on the mean sphere: within 0.6% of the WGS-84 geodesic."""
    p1, p2 = np.radians(lat), np.radians(lats)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2
    return 2 * 6371.0088 / 1.609344 * np.arcsin(np.sqrt(np.minimum(1.0, a)))


#: Points closer than this to the radius may fall either side by float rounding alone.
BOUNDARY_MILES = 1e-6


def brute_force(centers, origin: Place, radius: float, keep=lambda c: True):
    """Every center within the radius by geopy's geodesic, in (distance, name, id) order.

    A full scan: every center is measured. To keep the suite quick, geopy (Karney's exact
    algorithm) measures every center the haversine formula puts within 1.05 x the radius;
    those beyond are far from the boundary (the two agree within 0.6%).
    """
    lats = np.array([c["latitude"] for c in centers])
    lons = np.array([c["longitude"] for c in centers])
    rough = rough_miles(origin.latitude, origin.longitude, lats, lons)
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
        result = find_centers_near(seeded_session, query)
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
        center_record(name="Open, confirmed", accepting_referrals=True, last_verified_at=now - timedelta(days=10)),
        center_record(
            name="Open, confirmed long ago", accepting_referrals=True, last_verified_at=now - timedelta(days=200)
        ),
        center_record(name="Full", accepting_referrals=False),
        center_record(name="Not said"),
    )
    origin = OfflineGeocoder().locate("60601")
    accepting = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(accepting_referrals=True)))
    assert sorted(h.center.name for h in accepting.hits) == ["Open, confirmed", "Open, confirmed long ago"]
    closed = find_centers_near(session, SearchQuery(origin, 5, SearchFilters(accepting_referrals=False)))
    assert [h.center.name for h in closed.hits] == ["Full"]
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


def test_distance_agrees_with_geopy():
    rng = np.random.default_rng(3)
    for lat0, lon0 in [(40.7, -74.0), (61.2, -149.9), (18.4, -66.1), (89.5, 0.0), (-10.0, 179.9)]:
        for a, b in zip(lat0 + rng.uniform(-6, 6, 50), lon0 + rng.uniform(-8, 8, 50), strict=True):
            a = max(-90.0, min(90.0, a))
            reference = geodesic((lat0, lon0), (a, b)).miles
            assert geodesic_miles(lat0, lon0, a, b) == pytest.approx(reference, rel=1e-12, abs=1e-9)
    assert geodesic_miles(10.0, 10.0, 10.0, 10.0) == 0.0


@pytest.mark.parametrize(("latitude", "longitude"), [(0.0, -100.0), (35.0, -100.0), (64.0, -100.0), (52.0, 179.9),
                                                     (89.7, 30.0), (-89.9, 0.0)])  # fmt: skip
def test_points_a_whisker_inside_and_outside_the_circle_are_decided_exactly(session, latitude, longitude):
    """Points 1e-5 and 0.001 mile either side of the circle in every direction (across the
    antimeridian and around a pole too): the total and the order equal geopy's."""
    radius = 30.0
    records = []
    for bearing in range(0, 360, 30):
        for miles in (radius - 0.001, radius - 1e-5, radius + 1e-5, radius + 0.001, radius / 3):
            point = geodesic(miles=miles).destination((latitude, longitude), bearing)
            records.append(center_record(latitude=point.latitude, longitude=point.longitude))
    add_centers(session, *records)
    session.commit()
    points = session.execute(select(Center.latitude, Center.longitude)).all()
    distances = [geodesic((latitude, longitude), point).miles for point in points]
    origin = Place("here", latitude, longitude)
    result = find_centers_near(session, SearchQuery(origin, radius_miles=radius, per_page=100))
    expected = sorted(d for d in distances if d <= radius)
    assert result.total == len(expected) >= 24
    assert [h.distance_miles for h in result.hits] == pytest.approx(expected, rel=1e-12)


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
    """find_centers_near measures only the candidates the bounds leave open: its totals, pages
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
