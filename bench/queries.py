"""The benchmark's searches: real US places weighted toward where centers are, mixed radii and filters."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zipcodes

from directory.search.geocoding import OfflineGeocoder, PlaceNotFound
from directory.search.service import SearchFilters, SearchQuery

#: Share of searches from the ZIP code of a random real center; the rest from any US ZIP code.
CENTER_ZIP_SHARE = 0.8
#: (radius in miles, share of searches).
RADII = ((25, 0.7), (10, 0.1), (50, 0.1), (100, 0.1))
#: (label, filters, share of searches): half without filters, half with one of four common ones.
FILTERS = (
    ("none", SearchFilters(), 0.5),
    ("medication=naltrexone", SearchFilters(medication=("naltrexone",)), 0.125),
    ("payment=medicaid", SearchFilters(payment=("medicaid",)), 0.125),
    ("level_of_care=medical_detox", SearchFilters(level_of_care=("medical_detox",)), 0.125),
    ("pathway=detox_naltrexone", SearchFilters(pathway="detox_naltrexone"), 0.125),
)


@dataclass(frozen=True)
class BenchQuery:
    """One search of the workload, with what it is for the report."""

    zip: str
    filter_label: str
    query: SearchQuery

    @property
    def label(self) -> str:
        return f"{self.zip} {self.query.radius_miles:g} mi {self.filter_label}"

    @property
    def kind(self) -> str:
        """The group this search is reported in: radius, and filtered or not at 25 miles."""
        if self.query.radius_miles == 25:
            return "25 mi, no filter" if self.filter_label == "none" else "25 mi, one filter"
        return f"{self.query.radius_miles:g} mi, any"


def make_queries(count: int, seed_database: Path, random_seed: int) -> list[BenchQuery]:
    """`count` searches, the same for every database of a run (they depend only on the seed)."""
    rng = np.random.default_rng(random_seed)
    with closing(sqlite3.connect(seed_database)) as connection:
        center_zips = [row[0] for row in connection.execute("SELECT zip FROM centers ORDER BY id")]
    all_zips = [z["zip_code"] for z in zipcodes.list_all()]
    geocoder = OfflineGeocoder()
    radii, radius_shares = zip(*RADII, strict=True)
    queries: list[BenchQuery] = []
    while len(queries) < count:
        pool = center_zips if rng.random() < CENTER_ZIP_SHARE else all_zips
        zip_code = pool[rng.integers(len(pool))]
        try:
            origin = geocoder.locate(zip_code)
        except PlaceNotFound:
            continue  # e.g. a military or retired ZIP code without a location
        radius = float(rng.choice(radii, p=radius_shares))
        label, filters, _ = FILTERS[rng.choice(len(FILTERS), p=[f[2] for f in FILTERS])]
        queries.append(BenchQuery(zip_code, label, SearchQuery(origin=origin, radius_miles=radius, filters=filters)))
    return queries
