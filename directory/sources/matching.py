"""Which stored listing a newly imported site is: the same place by name and address, or by
distance and a closely similar name.

Two ways to be the same place:
- exact: the same normalised name, normalised street and ZIP (`place_key`);
- near: within `NEAR_METERS` of each other, with names at least `NAME_SIMILARITY` alike
  (`name_similarity`, rapidfuzz's token-set ratio of the normalised names; the listing's
  other name counts too).

Thresholds measured on the 2015 directory against FindTreatment.gov's Massachusetts file of
August 2025 (docs/matching.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from rapidfuzz.fuzz import token_set_ratio
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from directory import schema
from directory.models import Center

#: Two sites this close (about 300 feet) with similar names are the same place.
NEAR_METERS = 90.0
#: How alike two names must be (0-100) for sites `NEAR_METERS` apart to be the same place.
NAME_SIMILARITY = 80.0
#: The score of an exact match (above any name similarity).
EXACT = 101.0
#: Meters in a degree of latitude, near enough for distances of a few hundred meters (111,000 +-0.5%).
_METERS_PER_DEGREE_LATITUDE = 111_132.0

_WORD = re.compile(r"[a-z0-9]+")
#: Words a name can lose or gain without naming another place.
_NAME_NOISE = frozenset({"the", "inc", "incorporated", "llc", "llp", "ltd", "corp", "corporation", "co", "pc", "pllc"})
_NAME_WORDS = {"ctr": "center", "centre": "center", "svcs": "services", "svc": "service", "hosp": "hospital"}
#: Street words in one spelling (USPS abbreviations and their long forms).
_STREET_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "drive": "dr", "boulevard": "blvd",
    "lane": "ln", "place": "pl", "court": "ct", "parkway": "pkwy", "highway": "hwy", "terrace": "ter",
    "circle": "cir", "square": "sq", "turnpike": "tpke", "expressway": "expy", "freeway": "fwy",
    "route": "rte", "rt": "rte", "way": "way", "plaza": "plz", "mount": "mt", "saint": "st",
    "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "suite": "ste", "unit": "ste", "room": "rm", "floor": "fl", "building": "bldg",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
}  # fmt: skip


@lru_cache(maxsize=65_536)
def normalize_name(name: str) -> str:
    """A name in one spelling: lower case, "&" as "and", no punctuation, no "Inc", "LLC"..."""
    words = _WORD.findall(name.lower().replace("&", " and ").replace("'", ""))
    return " ".join(_NAME_WORDS.get(w, w) for w in words if w not in _NAME_NOISE)


@lru_cache(maxsize=65_536)
def normalize_street(street: str | None) -> str:
    """A street address in one spelling: lower case, no punctuation, "Street" as "st", "#4" as "ste 4"."""
    if not street:
        return ""
    words = _WORD.findall(street.lower().replace("#", " suite ").replace("'", ""))
    return " ".join(_STREET_WORDS.get(w, w) for w in words)


def place_key(name: str, street: str | None, zip_code: str) -> str | None:
    """What an exact match compares: normalised name, street and ZIP; None without a street."""
    street = normalize_street(street)
    if not street:
        return None
    return f"{normalize_name(name)}|{street}|{zip_code}"


def name_similarity(names: tuple[str, str | None], others: tuple[str, str | None]) -> float:
    """How alike two sites' names are, 0 to 100: the best of each one's name and other name."""
    left = [normalize_name(n) for n in names if n]
    right = [normalize_name(n) for n in others if n]
    return max((token_set_ratio(a, b) for a in left for b in right if a and b), default=0.0)


@dataclass(frozen=True)
class Site:
    """What matching compares of a site, stored or imported."""

    name: str
    alt_name: str | None
    street: str | None
    zip: str
    latitude: float
    longitude: float


def match_score(new: Site, old: Site) -> tuple[float, float] | None:
    """(score, meters apart) if the two are the same place, else None: `EXACT` for the same
    name, street and ZIP, else the name similarity of sites within `NEAR_METERS`."""
    meters = meters_apart(new, old)
    key = place_key(new.name, new.street, new.zip)
    if key is not None and key == place_key(old.name, old.street, old.zip):
        return EXACT, meters
    if meters > NEAR_METERS:
        return None
    similarity = name_similarity((new.name, new.alt_name), (old.name, old.alt_name))
    return (similarity, meters) if similarity >= NAME_SIMILARITY else None


def meters_apart(a: Site, b: Site) -> float:
    """The distance between two sites, on a plane tangent to the Earth: within 0.1% of the
    geodesic distance up to a few kilometres, which is all matching compares."""
    north = (a.latitude - b.latitude) * _METERS_PER_DEGREE_LATITUDE
    east = (a.longitude - b.longitude) * _METERS_PER_DEGREE_LATITUDE * math.cos(math.radians(a.latitude))
    return math.hypot(north, east)


@dataclass(frozen=True)
class Candidate:
    """A stored listing an imported site may be."""

    id: int
    external_id: str
    site: Site
    source_date: date | None
    source_vintage: int | None


#: The box searched around each site, a little wider than `NEAR_METERS` (the exact distance decides).
_BOX_METERS = NEAR_METERS * 1.2


def find_candidates(session: Session, sites: Sequence[Site]) -> list[list[Candidate]]:
    """For each site, the stored listings near it or in its ZIP code (a superset of its matches):
    two statements for the whole list, by the spatial index and the ZIP code index."""
    near = _near_pairs(session, sites)
    zips = sorted({site.zip for site in sites if place_key(site.name, site.street, site.zip) is not None})
    if zips:
        in_zip = select(Center.id, Center.zip).where(Center.zip.in_(zips), Center.street1.is_not(None))
        by_zip: dict[str, list[int]] = {}
        for center_id, zip_code in session.execute(in_zip):
            by_zip.setdefault(zip_code, []).append(center_id)
        for k, site in enumerate(sites):
            near.extend((k, center_id) for center_id in by_zip.get(site.zip, ()))
    ids = sorted({center_id for _, center_id in near})
    stored: dict[int, Candidate] = {}
    columns = (Center.id, Center.external_id, Center.name, Center.alt_name, Center.street1, Center.zip,
               Center.latitude, Center.longitude, Center.source_date, Center.source_vintage)  # fmt: skip
    for start in range(0, len(ids), 5000):
        for row in session.execute(select(*columns).where(Center.id.in_(ids[start : start + 5000]))):
            site = Site(row.name, row.alt_name, row.street1, row.zip, row.latitude, row.longitude)
            stored[row.id] = Candidate(row.id, row.external_id, site, row.source_date, row.source_vintage)
    found: list[list[Candidate]] = [[] for _ in sites]
    for k, center_id in sorted(set(near)):
        found[k].append(stored[center_id])
    return found


def _near_pairs(session: Session, sites: Sequence[Site]) -> list[tuple[int, int]]:
    """(site index, center id) of the stored listings within about `_BOX_METERS` of each site."""
    if not sites:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement = text(
            "SELECT d.k, c.id FROM unnest(CAST(:k AS integer[]), CAST(:lat AS float8[]), CAST(:lon AS float8[])) "
            f"AS d(k, lat, lon) JOIN centers c ON ST_DWithin(c.{schema.POSTGIS_COLUMN}, "
            "geography(ST_SetSRID(ST_MakePoint(d.lon, d.lat), 4326)), :meters, false)"
        )
        parameters = {
            "k": list(range(len(sites))),
            "lat": [s.latitude for s in sites],
            "lon": [s.longitude for s in sites],
            "meters": _BOX_METERS,
        }
        return [(k, center_id) for k, center_id in session.execute(statement, parameters)]
    # SQLite: the R*Tree searched once per site, inside one statement.
    boxes = []
    for k, site in enumerate(sites):
        half_lat = _BOX_METERS / _METERS_PER_DEGREE_LATITUDE
        half_lon = half_lat / max(math.cos(math.radians(site.latitude)), 0.01)
        boxes.append((k, site.latitude - half_lat, site.latitude + half_lat, site.longitude - half_lon,
                      site.longitude + half_lon))  # fmt: skip
    values = ", ".join("(?, ?, ?, ?, ?)" for _ in boxes)
    statement = (
        f"WITH q(k, s, n, w, e) AS (VALUES {values}) SELECT q.k, l.id FROM q JOIN center_locations l "
        "ON l.max_lat >= q.s AND l.min_lat <= q.n AND l.max_lon >= q.w AND l.min_lon <= q.e"
    )
    rows = session.connection().exec_driver_sql(statement, tuple(v for box in boxes for v in box))
    return [(k, center_id) for k, center_id in rows]
