"""Turn what a person types ("02139", "St. Louis, MO", "Chicago", "41.88,-87.63") into a point.

One entry point, `Geocoder.locate`, with two implementations chosen by config: the
offline one (ZIP and town tables from the `zipcodes` package, built once per process)
and geopy's Nominatim (online, cached) for deployments that want street-level places. When
Nominatim cannot be reached (network down, timeout, refused, over its rate limit), the offline
tables answer instead: a person looking for help never gets an error because of it.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Protocol

import zipcodes
from geopy.exc import GeopyError

from directory.search.geodesy import geodesic_miles
from directory.translatable import N_, Message
from directory.vocabulary import STATES

log = logging.getLogger(__name__)

EXAMPLES = Message(
    N_(
        'a 5-digit ZIP code (e.g. 02139), a town and state (e.g. "Springfield, IL") '
        'or coordinates (e.g. "41.88,-87.63")'
    )
)


@dataclass(frozen=True)
class Place:
    """A located origin for a search."""

    label: str
    latitude: float
    longitude: float


class PlaceNotFound(ValueError):
    """The text could not be understood or located; the message says why, for the user (`message`:
    a `Message`, which pages show in the person's language).

    `suggestions` are places the person may have meant, each written as `locate` takes it (e.g.
    "Springfield, IL"): the towns of that name when it names one in several states, or close
    spellings of a town not found.
    """

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = tuple(suggestions)


@dataclass(frozen=True)
class PlaceQuery:
    """What kind of place the text names, before it is located."""

    kind: str  # "zip", "town" or "point"
    zip: str = ""
    town: str = ""
    state: str = ""  # "" for a town named without its state
    latitude: float = 0.0
    longitude: float = 0.0


class Geocoder(Protocol):
    def locate(self, text: str) -> Place:
        """Locate a ZIP, "Town, ST" or "lat,lon"; raises PlaceNotFound with a helpful message."""
        ...


_POINT = re.compile(r"^\s*([-+]?\d{1,2}(?:\.\d+)?)\s*[,\s]\s*([-+]?\d{1,3}(?:\.\d+)?)\s*$")
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")
#: A ZIP code without its leading zeros, as spreadsheets write them ("2139" for 02139).
_UNPADDED_ZIP = re.compile(r"^(\d{3,4})$")
_TRAILING_ZIP = re.compile(r"[^\W\d_][.,]?\s+(\d{5})(?:-\d{4})?\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LETTER = re.compile(r"[^\W\d_]")
_STATE_NAMES = {name.casefold(): code for code, name in STATES.items()}
#: Words that towns are written both ways ("St. Louis" / "Saint Louis", "NYC" / "New York"), folded to
#: one form: the ZIP tables list "Nyc" among New York's other names, and a town is labelled by its own name.
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount", "pt": "point", "nyc": "new york"}
#: Apostrophes: straight, curly and the modifier letter. The ZIP tables write one as a space
#: ("O Fallon"), except before a possessive's ("Lees Summit").
_APOSTROPHES = "'\u2019\u2018\u02bc"
_POSSESSIVE = re.compile(f"[{_APOSTROPHES}](?=s\\b)")


def parse_place(text: str) -> PlaceQuery:
    """Classify the text as a ZIP, a town and state, or a point; raises PlaceNotFound."""
    text = (text or "").strip()
    if not text:
        raise PlaceNotFound(Message(N_("Enter a place to search near: %(examples)s."), examples=EXAMPLES))
    if len(text) > 120:
        raise PlaceNotFound(
            Message(N_("That place is too long to be an address we understand. Enter %(examples)s."), examples=EXAMPLES)
        )
    if _CONTROL.search(text):
        raise PlaceNotFound(
            Message(
                N_("That place has characters we cannot read (control characters). Enter %(examples)s."),
                examples=EXAMPLES,
            )
        )
    if match := _ZIP.match(text):
        return PlaceQuery("zip", zip=match.group(1))
    if (match := _UNPADDED_ZIP.match(text)) and (padded := _tables().zips.get(match.group(1).zfill(5))):
        message = N_('"%(text)s" is too short for a ZIP code, which has 5 digits. Did you mean %(zip)s?')
        raise PlaceNotFound(Message(message, text=text, zip=padded.label), [match.group(1).zfill(5)])
    if match := _POINT.match(text):
        lat, lon = float(match.group(1)), float(match.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise PlaceNotFound(
                Message(
                    N_(
                        '"%(text)s" looks like coordinates but is out of range: latitude is -90 to 90, '
                        "longitude -180 to 180 (e.g. 41.88,-87.63)."
                    ),
                    text=text,
                )
            )
        return PlaceQuery("point", latitude=lat, longitude=lon)
    if match := _TRAILING_ZIP.search(text):  # an address ending in its ZIP: "Chicago, IL 60601"
        return PlaceQuery("zip", zip=match.group(1))
    town, state = _split_town_state(text)
    if town and state:
        return PlaceQuery("town", town=town, state=state)
    town = text.rstrip(",. ").strip()
    if town and "," not in town and _LETTER.search(town):  # "Chicago": a town, in whichever state has it
        return PlaceQuery("town", town=town)
    raise PlaceNotFound(
        Message(N_('We could not understand "%(text)s". Enter %(examples)s.'), text=text, examples=EXAMPLES)
    )


def coarse_point(text: str | None) -> str | None:
    """A "lat,lon" place rounded to two decimals (about a kilometre), so that no page, form or link
    made from a search carries a more precise point than that; any other place as it is."""
    try:
        place = parse_place(text or "")
    except PlaceNotFound:
        return text
    if place.kind != "point":
        return text
    return f"{round(place.latitude, 2) + 0.0:.2f},{round(place.longitude, 2) + 0.0:.2f}"  # + 0.0: never "-0.00"


def _split_town_state(text: str) -> tuple[str, str]:
    if "," in text:
        town, _, state = text.rpartition(",")
    else:
        town, _, state = text.rpartition(" ")
    town, state = town.strip(), state.strip().rstrip(".")
    if re.fullmatch(r"(?:[A-Za-z]\.){2}", state + "."):  # "D.C." and the like
        state = state.replace(".", "")
    code = state.upper() if state.upper() in STATES else _STATE_NAMES.get(state.casefold(), "")
    if not code and "," not in text:
        # "Salt Lake City Utah", "Saint Paul New Mexico": try two-word state names.
        words = text.split()
        if len(words) > 2:
            code = _STATE_NAMES.get(" ".join(words[-2:]).casefold(), "")
            town = " ".join(words[:-2]) if code else town
    return (town, code) if code and re.search(r"[A-Za-z]", town) else ("", "")


def normalize_town(name: str) -> str:
    """Fold a town name for matching, as the ZIP tables spell towns: case, accents ("Bayamón":
    "bayamon"), punctuation and apostrophes ("Coeur d'Alene": "coeur d alene"; a possessive's is
    kept whole, "Lee's Summit": "lees summit"), and St./Ft./Mt. abbreviations."""
    words = re.sub(r"[^a-z0-9]+", " ", _POSSESSIVE.sub("", _fold_letters(name))).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def _fold_letters(text: str) -> str:
    """The text in lower case without accents ("Mayagüez": "mayaguez")."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _as_typed(place: Place, typed: str) -> Place:
    """A town from the tables, which spell names without accents or apostrophes ("Bayamon, PR",
    "Coeur D Alene, ID"), named with those the person typed ("bayamón": "Bayamón, PR"; "Coeur
    d'Alene": "Coeur D'Alene, ID") when the two are the same name letter for letter."""
    name, _, state = place.label.rpartition(", ")
    letters: list[str] = []  # the letters and digits typed
    apostrophes: dict[int, str] = {}  # letter index -> the apostrophe typed just before it
    for char in typed:
        if char in _APOSTROPHES:
            apostrophes[len(letters)] = char
        elif char.isalnum():
            letters.append(char)
    if [_fold_letters(char) for char in letters] != [char.casefold() for char in name if char.isalnum()]:
        return place
    spelled, index = "", 0
    for char in name:
        if char.isalnum():
            if index in apostrophes and (spelled[-1:] == " " or spelled[-1:].isalnum()):
                spelled = spelled.removesuffix(" ") + apostrophes[index]
            typed_char = letters[index]
            if unicodedata.normalize("NFD", typed_char) != typed_char:  # accented: keep it, in the tables' case
                char = typed_char.upper() if char.isupper() else typed_char.lower()
            index += 1
        spelled += char
    return Place(f"{spelled}, {state}", place.latitude, place.longitude)


class OfflineGeocoder:
    """Locates ZIP codes and towns from the `zipcodes` package's tables; no network."""

    def locate(self, text: str) -> Place:
        query = parse_place(text)
        if query.kind == "point":
            return point_place(query.latitude, query.longitude)
        tables = _tables()
        if query.kind == "zip":
            if query.zip not in tables.zips:
                raise PlaceNotFound(
                    Message(
                        N_("%(zip)s is not a US ZIP code we know. Check it, or enter a town and state."), zip=query.zip
                    )
                )
            return tables.zips[query.zip]
        state = query.state or state_of_town(query.town)
        place = tables.towns.get((normalize_town(query.town), state))
        if place is None:
            close = similar_towns(query.town, state)
            if close:
                message = N_(
                    'We could not find a town called "%(town)s" in %(state)s. '
                    "Did you mean %(towns)s? Or enter a 5-digit ZIP code."
                )
            else:
                message = N_(
                    'We could not find a town called "%(town)s" in %(state)s. '
                    "Check the spelling, or enter a 5-digit ZIP code."
                )
            raise PlaceNotFound(Message(message, town=query.town, state=STATES[state], towns=_either(close)), close)
        return _as_typed(place, query.town)


#: A point is named after the town of the nearest ZIP code within this distance ("use my location").
TOWN_NEAR_MILES = 15.0


def point_place(latitude: float, longitude: float) -> Place:
    """A point, labelled with the town of the nearest ZIP code if one is near ("Cambridge, MA
    (42.3647, -71.1042)"), or with the point alone."""
    point = f"{latitude:.4f}, {longitude:.4f}"
    town = nearest_town(latitude, longitude)
    return Place(f"{town} ({point})" if town else point, latitude, longitude)


def nearest_town(latitude: float, longitude: float) -> str | None:
    """ "Town, ST" of the ZIP code nearest the point, if one is within TOWN_NEAR_MILES; else None."""
    best = _nearest_zip(latitude, longitude)
    if best is None or geodesic_miles(latitude, longitude, best[1], best[2]) > TOWN_NEAR_MILES:
        return None
    return best[0]


def state_of_point(latitude: float, longitude: float) -> str | None:
    """The two-letter state of the ZIP code nearest the point (within about a degree), or None: a
    point near a state line may be given the neighbouring state, which is close enough for counts."""
    best = _nearest_zip(latitude, longitude)
    return best[0].rpartition(", ")[2] if best else None


def _nearest_zip(latitude: float, longitude: float) -> tuple[str, float, float] | None:
    """("Town, ST", latitude, longitude) of the nearest ZIP code in the point's and the adjoining
    whole-degree cells, or None if they hold none."""
    grid = _zip_grid()
    row, column = math.floor(latitude), math.floor(longitude)
    cells = [(r, c) for r in (row - 1, row, row + 1) for c in (column - 1, column, column + 1)]
    nearby = (place for cell in cells for place in grid.get(cell, ()))
    squeeze = math.cos(math.radians(latitude))  # a degree of longitude is this much of one of latitude
    return min(nearby, key=lambda p: (p[1] - latitude) ** 2 + ((p[2] - longitude) * squeeze) ** 2, default=None)


@cache
def _zip_grid() -> dict[tuple[int, int], list[tuple[str, float, float]]]:
    """Every ZIP code's ("Town, ST", latitude, longitude), by the whole degrees of its point."""
    grid: dict[tuple[int, int], list[tuple[str, float, float]]] = defaultdict(list)
    for place in _tables().zips.values():
        town = place.label.split(" (", 1)[1].rstrip(")")  # "02139 (Cambridge, MA)"
        grid[math.floor(place.latitude), math.floor(place.longitude)].append((town, place.latitude, place.longitude))
    return dict(grid)


#: A town named without its state is taken to be the one with this many times the ZIP codes of
#: any other town of that name (Boston: Massachusetts's, not Georgia's); otherwise the person is asked.
CLEAR_LEAD = 5
#: Towns offered at most, when a name is in several states or close to a name not found.
MAX_SUGGESTIONS = 8


def state_of_town(town: str) -> str:
    """The state of the town called `town`, named without its state: the only one of that name,
    or one far larger than the others (CLEAR_LEAD); raises PlaceNotFound, with the towns it could
    be (largest first) or close spellings, if there is none or no clear one."""
    named = _tables().by_name.get(normalize_town(town), [])
    if not named and (town.upper() in STATES or town.casefold() in _STATE_NAMES):
        raise PlaceNotFound(
            Message(
                N_('"%(town)s" is a state. Enter a town and its state (e.g. "Springfield, IL"), or a ZIP code.'),
                town=town,
            )
        )
    if not named:
        close = similar_towns(town)
        if close:
            message = N_('We could not find a town called "%(town)s". Did you mean %(towns)s? Or enter %(examples)s.')
        else:
            message = N_('We could not find a town called "%(town)s". Check the spelling, or enter %(examples)s.')
        raise PlaceNotFound(Message(message, town=town, towns=_either(close), examples=EXAMPLES), close)
    if len(named) == 1 or named[0].zip_codes >= CLEAR_LEAD * named[1].zip_codes:
        return named[0].state
    choices = [_as_typed(entry.place, town).label for entry in named[:MAX_SUGGESTIONS]]
    if len(named) <= 3:
        message = N_(
            'There are towns called "%(town)s" in %(count)s states: %(towns)s. '
            'Add the state (e.g. "%(example)s"), or enter a 5-digit ZIP code.'
        )
        towns = _either(choices, "and")
    else:
        message = N_(
            'There are towns called "%(town)s" in %(count)s states, the largest %(towns)s. '
            'Add the state (e.g. "%(example)s"), or enter a 5-digit ZIP code.'
        )
        towns = _either(choices[:3], "and")
    raise PlaceNotFound(Message(message, town=town, count=len(named), towns=towns, example=choices[0]), choices)


def other_towns(text: str) -> list[str]:
    """When `text` is a town typed without its state and located (`state_of_town` chose one): the
    other towns of that name, largest first, as "Town, ST" (at most MAX_SUGGESTIONS)."""
    try:
        query = parse_place(text)
        if query.kind != "town" or query.state:
            return []
        chosen = state_of_town(query.town)
    except PlaceNotFound:
        return []
    named = _tables().by_name.get(normalize_town(query.town), [])
    return [_as_typed(entry.place, query.town).label for entry in named if entry.state != chosen][:MAX_SUGGESTIONS]


def similar_towns(town: str, state: str = "") -> list[str]:
    """Towns spelled like `town` (in `state`, if given), closest first, as "Town, ST"."""
    name = normalize_town(town)
    if not name:
        return []
    tables = _tables()
    # Only names that start alike and are about as long are compared: the full list is long.
    candidates = [
        other
        for other in tables.names_by_initial.get(name[0], ())
        if abs(len(other) - len(name)) <= 2 and (not state or (other, state) in tables.towns)
    ]
    found = []
    for other in difflib.get_close_matches(name, candidates, n=MAX_SUGGESTIONS, cutoff=0.8):
        if state:
            found.append(tables.towns[(other, state)].label)
        else:
            found.extend(entry.place.label for entry in tables.by_name[other][:2])
    return found[:MAX_SUGGESTIONS]


def _either(labels: Sequence[str], conjunction: str = "or") -> str:
    """ "A", "A or B", "A; B or C" (a label has a comma of its own: "Springfield, IL"); "" for none."""
    if len(labels) <= 1:
        return labels[0] if labels else ""
    template = N_("%(labels)s or %(last)s") if conjunction == "or" else N_("%(labels)s and %(last)s")
    return Message(template, labels="; ".join(labels[:-1]), last=labels[-1])


def warm_up() -> None:
    """Build the offline tables now (about a second) rather than during someone's first search."""
    _tables()


@dataclass(frozen=True)
class _NamedTown:
    state: str
    place: Place
    zip_codes: int  # how many ZIP codes name it: a measure of its size


@dataclass(frozen=True)
class _Tables:
    zips: dict[str, Place]  # ZIP -> its point
    towns: dict[tuple[str, str], Place]  # (normalized town, state) -> the mean of the town's ZIP points
    by_name: dict[str, list[_NamedTown]]  # normalized town -> the towns of that name, largest first
    names_by_initial: dict[str, list[str]]  # first letter -> the normalized town names


@cache
def _tables() -> _Tables:
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
    by_name: dict[str, list[_NamedTown]] = defaultdict(list)
    for (name, state), place in towns.items():
        by_name[name].append(_NamedTown(state, place, len(points[(name, state)])))
    for entries in by_name.values():
        entries.sort(key=lambda entry: (-entry.zip_codes, entry.state))
    names_by_initial: dict[str, list[str]] = defaultdict(list)
    for name in sorted(by_name):
        names_by_initial[name[0]].append(name)
    return _Tables(zips, towns, dict(by_name), dict(names_by_initial))


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
            return point_place(query.latitude, query.longitude)
        if query.kind == "zip":
            found = self._client.geocode({"postalcode": query.zip, "country": "us"})  # type: ignore[attr-defined]
        else:  # a town named without its state: the state the offline tables give it (or ask which)
            state = query.state or state_of_town(query.town)
            found = self._client.geocode({"city": query.town, "state": STATES[state], "country": "us"})  # type: ignore[attr-defined]
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


@dataclass(frozen=True)
class ZipTowns:
    """A ZIP code's state and towns in the `zipcodes` tables (territories included).

    `names`: the Postal Service's name for its town, then the other names it accepts for mail;
    `local_names`: names it does not accept for mail but people use there (neighbourhoods,
    villages); `point`: None for the few codes without one.
    """

    state: str
    names: tuple[str, ...]
    local_names: tuple[str, ...]
    point: tuple[float, float] | None


def zip_towns(zip_code: str) -> ZipTowns | None:
    """The state and towns of a 5-digit ZIP code, or None if the tables do not know it."""
    return _zip_towns()[0].get(zip_code)


def town_key(name: str) -> str:
    """A town name as compared with a ZIP code's names: normalised, spaces left out (the tables
    write "Mc Lean" and "Mclean")."""
    return normalize_town(name).replace(" ", "")


def miles_to_town(zip_code: str, town: str, state: str) -> float | None:
    """Miles from a ZIP code's point to the nearest point of a ZIP code that names `town` (any of
    its names) in `state`; None if either has no point in the tables."""
    areas, points = _zip_towns()
    area = areas.get(zip_code)
    towns = points.get((town_key(town), state))
    if area is None or area.point is None or not towns:
        return None
    return min(geodesic_miles(*area.point, *point) for point in towns)


@cache
def _zip_towns() -> tuple[dict[str, ZipTowns], dict[tuple[str, str], list[tuple[float, float]]]]:
    """ZIP code -> its ZipTowns; (town_key, state) -> the points of the ZIP codes naming that town."""
    areas: dict[str, ZipTowns] = {}
    points: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in zipcodes.list_all():
        if row["state"] not in STATES:
            continue  # military APO/FPO codes
        lat, lon = float(row["lat"]), float(row["long"])
        point = None if (lat, lon) == (0.0, 0.0) else (lat, lon)
        area = ZipTowns(
            row["state"], (row["city"], *row["acceptable_cities"]), tuple(row["unacceptable_cities"]), point
        )
        areas[row["zip_code"]] = area
        if point is not None:
            for name in {town_key(name) for name in (*area.names, *area.local_names)}:
                points[(name, area.state)].append(point)
    return areas, dict(points)
