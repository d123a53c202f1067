"""Turn what a person types ("02139", "St. Louis, MO", "41.88,-87.63") into a point.

One entry point, `Geocoder.locate`, with two implementations chosen by config: the
offline one (ZIP and town tables from the `zipcodes` package, built once per process)
and geopy's Nominatim (online, cached) for deployments that want street-level places. When
Nominatim cannot be reached (network down, timeout, refused, over its rate limit), the offline
tables answer instead: a person looking for help never gets an error because of it.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Protocol

import zipcodes
from geopy.exc import GeopyError

from directory.vocabulary import STATES

log = logging.getLogger(__name__)

EXAMPLES = (
    'a 5-digit ZIP code (e.g. 02139), a town and state (e.g. "Springfield, IL") or coordinates (e.g. "41.88,-87.63")'
)


@dataclass(frozen=True)
class Place:
    """A located origin for a search."""

    label: str
    latitude: float
    longitude: float


class PlaceNotFound(ValueError):
    """The text could not be understood or located; the message says why, for the user."""


@dataclass(frozen=True)
class PlaceQuery:
    """What kind of place the text names, before it is located."""

    kind: str  # "zip", "town" or "point"
    zip: str = ""
    town: str = ""
    state: str = ""
    latitude: float = 0.0
    longitude: float = 0.0


class Geocoder(Protocol):
    def locate(self, text: str) -> Place:
        """Locate a ZIP, "Town, ST" or "lat,lon"; raises PlaceNotFound with a helpful message."""
        ...


_POINT = re.compile(r"^\s*([-+]?\d{1,2}(?:\.\d+)?)\s*[,\s]\s*([-+]?\d{1,3}(?:\.\d+)?)\s*$")
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STATE_NAMES = {name.casefold(): code for code, name in STATES.items()}
#: Words that towns spell both ways ("St. Louis" / "Saint Louis"), folded to one form.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount", "pt": "point"}


def parse_place(text: str) -> PlaceQuery:
    """Classify the text as a ZIP, a town and state, or a point; raises PlaceNotFound."""
    text = (text or "").strip()
    if not text:
        raise PlaceNotFound(f"Enter a place to search near: {EXAMPLES}.")
    if len(text) > 120:
        raise PlaceNotFound(f"That place is too long to be an address we understand. Enter {EXAMPLES}.")
    if _CONTROL.search(text):
        raise PlaceNotFound(f"That place has characters we cannot read (control characters). Enter {EXAMPLES}.")
    if match := _ZIP.match(text):
        return PlaceQuery("zip", zip=match.group(1))
    if match := _POINT.match(text):
        lat, lon = float(match.group(1)), float(match.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlaceNotFound(
                f'"{text}" looks like coordinates but is out of range: latitude is -90 to 90, '
                "longitude -180 to 180 (e.g. 41.88,-87.63)."
            )
        return PlaceQuery("point", latitude=lat, longitude=lon)
    town, state = _split_town_state(text)
    if town and state:
        return PlaceQuery("town", town=town, state=state)
    raise PlaceNotFound(f'We could not understand "{text}". Enter {EXAMPLES}.')


def _split_town_state(text: str) -> tuple[str, str]:
    if "," in text:
        town, _, state = text.rpartition(",")
    else:
        town, _, state = text.rpartition(" ")
    town, state = town.strip(), state.strip().rstrip(".")
    code = state.upper() if state.upper() in STATES else _STATE_NAMES.get(state.casefold(), "")
    if not code and "," not in text:
        # "Salt Lake City Utah", "Saint Paul New Mexico": try two-word state names.
        words = text.split()
        if len(words) > 2:
            code = _STATE_NAMES.get(" ".join(words[-2:]).casefold(), "")
            town = " ".join(words[:-2]) if code else town
    return (town, code) if code and re.search(r"[A-Za-z]", town) else ("", "")


def normalize_town(name: str) -> str:
    """Fold a town name for matching: case, punctuation, and St./Ft./Mt. abbreviations."""
    words = re.sub(r"[^a-z0-9 ]+", " ", name.casefold().replace("'", "")).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


class OfflineGeocoder:
    """Locates ZIP codes and towns from the `zipcodes` package's tables; no network."""

    def locate(self, text: str) -> Place:
        query = parse_place(text)
        if query.kind == "point":
            return Place(f"{query.latitude:.4f}, {query.longitude:.4f}", query.latitude, query.longitude)
        zips, towns = _tables()
        if query.kind == "zip":
            if query.zip not in zips:
                raise PlaceNotFound(f"{query.zip} is not a US ZIP code we know. Check it, or enter a town and state.")
            return zips[query.zip]
        place = towns.get((normalize_town(query.town), query.state))
        if place is None:
            raise PlaceNotFound(
                f'We could not find a town called "{query.town}" in {STATES[query.state]}. '
                f"Check the spelling, or enter a 5-digit ZIP code."
            )
        return place


def warm_up() -> None:
    """Build the offline tables now (about a second) rather than during someone's first search."""
    _tables()


@cache
def _tables() -> tuple[dict[str, Place], dict[tuple[str, str], Place]]:
    """ZIP -> place and (town, state) -> place (the mean of the town's ZIP points)."""
    zips: dict[str, Place] = {}
    points: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for row in zipcodes.list_all():
        lat, lon = float(row["lat"]), float(row["long"])
        if (lat, lon) == (0.0, 0.0) or row["state"] not in STATES:
            continue  # military APO/FPO codes have no location
        city = row["city"]
        zips[row["zip_code"]] = Place(f"{row['zip_code']} ({city}, {row['state']})", lat, lon)
        for name in [city, *row["acceptable_cities"]]:
            key = (normalize_town(name), row["state"])
            points[key].append((lat, lon))
            names.setdefault(key, name)
    towns = {
        key: Place(
            f"{names[key]}, {key[1]}",
            round(sum(p[0] for p in pts) / len(pts), 5),
            round(sum(p[1] for p in pts) / len(pts), 5),
        )
        for key, pts in points.items()
    }
    return zips, towns


class NominatimGeocoder:
    """Locates places with OpenStreetMap's Nominatim through geopy (online), with a cache.

    Coordinates are parsed locally; ZIPs and towns are looked up online, restricted to the US.
    If the service fails (any geopy error: unreachable, timed out, refused, rate-limited), the
    place is located by `fallback` (the offline tables) for this request; only the service's
    own answers are cached, so the next request asks it again.
    """

    def __init__(
        self,
        user_agent: str,
        domain: str = "nominatim.openstreetmap.org",
        client: object = None,
        fallback: Geocoder | None = None,
    ) -> None:
        if client is None:
            from geopy.geocoders import Nominatim

            client = Nominatim(user_agent=user_agent, domain=domain, timeout=5)
        self._client = client
        self._fallback = fallback if fallback is not None else OfflineGeocoder()
        self._online = lru_cache(maxsize=4096)(self._locate)

    def locate(self, text: str) -> Place:
        try:
            return self._online(text)
        except GeopyError as error:
            # The place typed is not logged: it can say where a person seeking treatment lives.
            log.warning("Nominatim failed (%s); the place was located offline instead", type(error).__name__)
            return self._fallback.locate(text)

    def _locate(self, text: str) -> Place:
        query = parse_place(text)
        if query.kind == "point":
            return Place(f"{query.latitude:.4f}, {query.longitude:.4f}", query.latitude, query.longitude)
        if query.kind == "zip":
            found = self._client.geocode({"postalcode": query.zip, "country": "us"})  # type: ignore[attr-defined]
        else:
            found = self._client.geocode({"city": query.town, "state": STATES[query.state], "country": "us"})  # type: ignore[attr-defined]
        if found is None:
            raise PlaceNotFound(f'We could not find "{text.strip()}". Check it, or enter {EXAMPLES}.')
        return Place(found.address, float(found.latitude), float(found.longitude))


def make_geocoder(kind: str, *, user_agent: str = "treatment-directory", domain: str = "") -> Geocoder:
    """The geocoder named by the GEOCODER setting: "offline" (default) or "nominatim"."""
    if kind == "offline":
        return OfflineGeocoder()
    if kind == "nominatim":
        return NominatimGeocoder(user_agent, domain or "nominatim.openstreetmap.org")
    raise ValueError(f"GEOCODER must be 'offline' or 'nominatim', not {kind!r}")
