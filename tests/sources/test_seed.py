"""The seed directory: built from the public sources in order, byte for byte the committed file;
near Cambridge, MA it shows the 2025 listings, each once, with their source."""

from __future__ import annotations

import csv
from collections import Counter

from directory.search.geocoding import OfflineGeocoder
from directory.search.service import SearchQuery, find_centers_near
from directory.sources.matching import normalize_name
from directory.sources.seed import SEED_SOURCES, build_seed
from tests.conftest import SEED_FILE, SHARED_DATA
from tests.public.pages import Page
from tests.sources.helpers import run_export


def test_the_seed_is_exactly_what_its_sources_make(app, session, runner, tmp_path):
    built = build_seed(session, SHARED_DATA)

    assert [source for source, _ in built] == list(SEED_SOURCES)
    reports = [report for _, report in built]
    assert all(report.written and report.invalid_rows == 0 for report in reports)
    nssats, california, massachusetts = reports
    assert nssats.created == 11689
    assert (massachusetts.rows_read, massachusetts.merged_rows, sum(massachusetts.left_out.values())) == (662, 210, 41)
    assert massachusetts.created + massachusetts.matched == 662 - 210 - 41
    assert massachusetts.count("superseded") == 195
    exported = tmp_path / "centers.csv"
    run_export(runner, exported)
    assert exported.read_bytes() == SEED_FILE.read_bytes()


def test_the_seed_holds_no_massachusetts_listing_of_2015():
    with open(SEED_FILE, encoding="utf-8", newline="") as stream:
        sources = Counter(row["source"] for row in csv.DictReader(stream) if row["state"] == "MA")
    assert set(sources) == {"findtreatment-gov"}


def test_near_cambridge_the_2025_listings_show_once_each_with_their_source(seeded_session, seeded_client):
    origin = OfflineGeocoder().locate("02139")
    result = find_centers_near(seeded_session, SearchQuery(origin, 5, per_page=None))
    assert result.total > 20
    assert {hit.center.source for hit in result.hits} == {"findtreatment-gov"}
    places = Counter((normalize_name(hit.center.name), hit.center.street1, hit.center.zip) for hit in result.hits)
    assert places.most_common(1)[0][1] == 1

    page = Page(seeded_client.get("/search?near=02139&radius_miles=5").data)
    cards = page.results()
    assert cards and all("Listed on FindTreatment.gov, August 2025" in card.text for card in cards)
