"""The place parser and the geocoders: what a person types, turned into a point or a clear error."""

from __future__ import annotations

import re

import pytest
from geopy.exc import GeocoderRateLimited, GeocoderTimedOut, GeocoderUnavailable

from directory.search.geocoding import (
    NominatimGeocoder,
    OfflineGeocoder,
    PlaceNotFound,
    make_geocoder,
    normalize_town,
    other_towns,
    parse_place,
    state_of_point,
)

geocoder = OfflineGeocoder()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("02139", "zip"),
        (" 60601-1234 ", "zip"),
        ("Chicago, IL 60601", "zip"),
        ("1600 Pennsylvania Ave NW, Washington, DC 20500-0003", "zip"),
        ("Chicago, IL", "town"),
        ("chicago il", "town"),
        ("Salt Lake City Utah", "town"),
        ("Santa Fe, New Mexico", "town"),
        ("Springfield", "town"),
        ("chicago.", "town"),
        ("41.88,-87.63", "point"),
        ("41.88, -87.63", "point"),
        ("-14.27 -170.70", "point"),
    ],
)
def test_parse_place_recognises_each_kind(text, kind):
    assert parse_place(text).kind == kind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a place"),
        ("   ", "Enter a place"),
        ("1234", "could not understand"),
        ("Springfield, ZZ", "could not understand"),
        (", IL", "could not understand"),
        ("91.0,10.0", "out of range"),
        ("45.0,181.0", "out of range"),
        ("x" * 200, "too long"),
    ],
)
def test_parse_place_explains_what_it_did_not_understand(text, message):
    with pytest.raises(PlaceNotFound, match=message) as caught:
        parse_place(text)
    assert "e.g." in str(caught.value) or "out of range" in str(caught.value)


def test_zip_is_located_at_its_point():
    place = geocoder.locate("02139")
    assert place.label.startswith("02139 (Cambridge, MA")
    assert place.latitude == pytest.approx(42.36, abs=0.05)
    assert place.longitude == pytest.approx(-71.10, abs=0.05)


def test_zip_plus_four_uses_the_zip():
    assert geocoder.locate("02139-4307") == geocoder.locate("02139")


@pytest.mark.parametrize(
    ("spellings", "state"),
    [
        (["St. Louis, MO", "Saint Louis, MO", "st louis mo", "ST. LOUIS, Missouri"], "MO"),
        (["Ft. Lauderdale, FL", "Fort Lauderdale, FL", "ft lauderdale fl"], "FL"),
        (["Mt. Vernon, NY", "Mount Vernon, NY"], "NY"),
        (["St. Thomas, VI", "Saint Thomas, VI"], "VI"),
    ],
)
def test_town_abbreviations_are_normalised(spellings, state):
    places = {geocoder.locate(text) for text in spellings}
    assert len(places) == 1
    assert places.pop().label.endswith(f", {state}")


def test_town_is_located_near_its_centre():
    place = geocoder.locate("Denver, CO")
    assert place.latitude == pytest.approx(39.74, abs=0.15)
    assert place.longitude == pytest.approx(-104.99, abs=0.15)


def test_point_passes_through():
    place = geocoder.locate("41.88,-87.63")
    assert (place.latitude, place.longitude) == (41.88, -87.63)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("42.3647,-71.1042", "Cambridge, MA (42.3647, -71.1042)"),
        ("41.89,-87.62", "Chicago, IL (41.8900, -87.6200)"),
        ("64.84,-147.72", "Fairbanks, AK (64.8400, -147.7200)"),
        ("18.40,-66.06", "San Juan, PR (18.4000, -66.0600)"),
        # Farther than TOWN_NEAR_MILES from any ZIP code (the Atlantic; Mexico City): the point alone.
        ("30.0,-40.0", "30.0000, -40.0000"),
        ("19.43,-99.13", "19.4300, -99.1300"),
    ],
)
def test_a_point_is_named_after_the_nearest_zip_codes_town_and_keeps_its_rounded_point(text, label):
    place = geocoder.locate(text)
    assert place.label == label
    assert (place.latitude, place.longitude) == tuple(float(part) for part in text.split(","))


def test_unknown_zip_and_town_get_specific_messages():
    with pytest.raises(PlaceNotFound, match="00000 is not a US ZIP code we know"):
        geocoder.locate("00000")
    with pytest.raises(PlaceNotFound, match='could not find a town called "Nowhereville" in Ohio'):
        geocoder.locate("Nowhereville, OH")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Boise", "Boise, ID"),  # the only town of that name
        ("chicago", "Chicago, IL"),
        ("Boston", "Boston, MA"),  # 55 ZIP codes; the Bostons of Georgia, Indiana, ... one each
        ("St. Louis", "Saint Louis, MO"),
        ("Salt Lake City", "Salt Lake City, UT"),
    ],
)
def test_a_town_without_its_state_is_located_when_it_is_clear_which(text, label):
    assert geocoder.locate(text).label == label


def test_the_other_towns_of_a_name_typed_without_its_state_are_known():
    others = other_towns("Boston")
    assert "Boston, MA" not in others and {"Boston, GA", "Boston, NY"} <= set(others)
    assert other_towns("Boise") == []  # the only one
    assert other_towns("Boston, MA") == other_towns("02139") == other_towns("Springfield") == []


def test_a_town_in_several_states_asks_which_offering_the_largest_first():
    with pytest.raises(PlaceNotFound) as caught:
        geocoder.locate("Springfield")
    message, suggestions = str(caught.value), caught.value.suggestions
    assert message.startswith('There are towns called "Springfield" in ')
    assert "Add the state (e.g. " in message and "ZIP code" in message
    assert {"Springfield, IL", "Springfield, MA", "Springfield, MO"} <= set(suggestions[:5])
    assert len(suggestions) == 8
    for suggestion in suggestions:  # each is a place the geocoder takes as it is
        assert geocoder.locate(suggestion).label == suggestion


def test_a_town_in_two_or_three_states_names_them_all():
    with pytest.raises(PlaceNotFound, match="in 2 states: Kansas City, MO and Kansas City, KS. Add the state"):
        geocoder.locate("Kansas City")


def test_close_spellings_are_suggested_in_the_state_or_anywhere():
    with pytest.raises(PlaceNotFound, match='"Chicgo" in Illinois. Did you mean Chicago, IL\\?') as caught:
        geocoder.locate("Chicgo, IL")
    assert caught.value.suggestions == ("Chicago, IL",)
    with pytest.raises(PlaceNotFound, match='could not find a town called "Chicgo". Did you mean ') as caught:
        geocoder.locate("Chicgo")
    assert caught.value.suggestions[0] == "Chicago, IL"
    with pytest.raises(PlaceNotFound, match='could not find a town called "Xqzzy". Check the spelling') as caught:
        geocoder.locate("Xqzzy")
    assert caught.value.suggestions == ()


@pytest.mark.parametrize(
    ("text", "meant"),
    [("2139", "02139 (Cambridge, MA)"), (" 1604 ", "01604 (Worcester, MA)"), ("601", "00601 (Adjuntas, PR)")],
)
def test_a_zip_code_without_its_leading_zeros_suggests_the_5_digit_one(text, meant):
    with pytest.raises(PlaceNotFound, match=f"which has 5 digits. Did you mean {re.escape(meant)}\\?") as caught:
        geocoder.locate(text)
    assert caught.value.suggestions == (meant[:5],)
    assert geocoder.locate(meant[:5]).label == meant


def test_a_short_number_that_no_zip_code_pads_to_is_not_understood():
    with pytest.raises(PlaceNotFound, match='We could not understand "9999". Enter a 5-digit ZIP code') as caught:
        geocoder.locate("9999")
    assert caught.value.suggestions == ()


def test_an_address_ending_in_its_zip_is_located_at_the_zip():
    assert geocoder.locate("Chicago, Illinois 60601") == geocoder.locate("60601")
    assert geocoder.locate("1600 Pennsylvania Ave NW, Washington, DC 20500").label.startswith("20500 (Washington, DC")
    assert parse_place("Chicago, IL 60601").zip == "60601"


def test_a_state_written_with_full_stops_is_read():
    places = {geocoder.locate(text) for text in ("Washington, D.C.", "Washington D.C.", "Washington, DC")}
    assert [place.label for place in places] == ["Washington, DC"]


def test_a_state_alone_is_not_taken_for_a_town():
    with pytest.raises(PlaceNotFound, match='"Illinois" is a state. Enter a town and its state'):
        geocoder.locate("Illinois")
    assert geocoder.locate("New York").label == "New York, NY"  # a state, and a town too


@pytest.mark.parametrize("text", ["NYC", "nyc", "NYC, NY", "Nyc New York"])
def test_nyc_is_new_york(text):
    assert geocoder.locate(text) == geocoder.locate("New York, NY")


def test_normalize_town_folds_case_punctuation_and_abbreviations():
    assert normalize_town("St. Mary's") == normalize_town("SAINT MARYS") == "saint marys"
    assert normalize_town("Winston-Salem") == "winston salem"


@pytest.mark.parametrize(
    ("typed", "tables"),
    [
        ("Bayamón", "Bayamon"),
        ("MAYAGÜEZ", "Mayaguez"),
        ("Cañon City", "Canon City"),
        ("Coeur d'Alene", "Coeur D Alene"),
        ("Coeur d’Alene", "Coeur D Alene"),
        ("O'Fallon", "O Fallon"),
        ("Land O’Lakes", "Land O Lakes"),
        ("Lee's Summit", "Lees Summit"),  # the tables write a possessive's without a space
        ("Lee’s Summit", "Lees Summit"),
    ],
)
def test_normalize_town_folds_accents_and_apostrophes_as_the_tables_spell_them(typed, tables):
    assert normalize_town(typed) == normalize_town(tables)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Bayamón, PR", "Bayamón, PR"),
        ("Bayamón", "Bayamón, PR"),
        ("bayamón pr", "Bayamón, PR"),
        ("Mayagüez, PR", "Mayagüez, PR"),
        ("Mayagüez", "Mayagüez, PR"),
        ("Cataño, PR", "Cataño, PR"),
        ("Cataño", "Cataño, PR"),
        ("Añasco, PR", "Añasco, PR"),
        ("Añasco", "Añasco, PR"),
        ("Río Piedras, PR", "Río Piedras, PR"),
        ("Río Piedras", "Río Piedras, PR"),
        ("Española, NM", "Española, NM"),  # Española alone is in two states: asked below
        ("Cañon City, CO", "Cañon City, CO"),
        ("Cañon City", "Cañon City, CO"),
        ("Coeur d'Alene, ID", "Coeur D'Alene, ID"),
        ("Coeur d'Alene", "Coeur D'Alene, ID"),
        ("Coeur d’Alene Idaho", "Coeur D’Alene, ID"),
        ("O'Fallon, MO", "O'Fallon, MO"),
        ("O’Fallon, IL", "O’Fallon, IL"),
        ("Lee's Summit, MO", "Lee's Summit, MO"),
        ("Mayaguez, PR", "Mayaguez, PR"),  # typed without the accent: as the tables spell it
        ("Coeur D Alene, ID", "Coeur D Alene, ID"),
        ("St. Mary's, PA", "Saint Marys, PA"),  # spelled otherwise than typed: as the tables spell it
    ],
)
def test_towns_with_accents_and_apostrophes_are_found_and_named_as_typed(text, label):
    place = geocoder.locate(text)
    assert place.label == label
    town, _, state = label.rpartition(", ")
    as_in_the_tables = geocoder.locate(f"{normalize_town(town)}, {state}")
    assert (place.latitude, place.longitude) == (as_in_the_tables.latitude, as_in_the_tables.longitude)


def test_a_town_with_an_accent_in_several_states_is_asked_about_as_typed():
    with pytest.raises(PlaceNotFound, match='"Española" in 2 states: Española, NM and Española, WA') as caught:
        geocoder.locate("Española")
    assert caught.value.suggestions == ("Española, NM", "Española, WA")
    with pytest.raises(PlaceNotFound, match="\"O'Fallon\" in 2 states: O'Fallon, MO and O'Fallon, IL"):
        geocoder.locate("O'Fallon")
    with pytest.raises(PlaceNotFound, match='"Bayamónn" in Puerto Rico. Did you mean Bayamon, PR\\?'):
        geocoder.locate("Bayamónn, PR")


def test_a_town_with_an_accent_is_searched_on_the_page_and_by_the_api(client):
    api = client.get("/api/v1/centers/search", query_string={"near": "Bayamón, PR"})
    assert api.status_code == 200, api.json
    assert api.json["origin"]["label"] == "Bayamón, PR"
    page = client.get("/search", query_string={"near": "Coeur d’Alene, ID"})
    assert page.status_code == 200
    assert "Coeur D’Alene, ID" in page.get_data(as_text=True)


class FakeNominatim:
    """Stands in for the online service only: answers like geopy's Nominatim client."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def geocode(self, query):
        self.calls.append(query)
        return self.answers.get(tuple(sorted(query.items())))


class Location:
    def __init__(self, address, latitude, longitude):
        self.address, self.latitude, self.longitude = address, latitude, longitude


def test_nominatim_geocoder_queries_structured_and_caches():
    client = FakeNominatim(
        {(("country", "us"), ("postalcode", "02139")): Location("Cambridge, MA 02139", 42.36, -71.1)}
    )
    nominatim = NominatimGeocoder("test-agent", client=client)
    first = nominatim.locate("02139")
    second = nominatim.locate("02139")
    assert first == second
    assert first.label == "Cambridge, MA 02139"
    assert len(client.calls) == 1


def test_nominatim_geocoder_asks_for_a_town_without_its_state_in_the_state_the_tables_give():
    client = FakeNominatim(
        {(("city", "Boise"), ("country", "us"), ("state", "Idaho")): Location("Boise, Idaho", 43.6, -116.2)}
    )
    nominatim = NominatimGeocoder("test-agent", client=client)
    assert nominatim.locate("Boise").label == "Boise, Idaho"
    with pytest.raises(PlaceNotFound, match='towns called "Springfield" in '):
        nominatim.locate("Springfield")
    assert client.calls == [{"city": "Boise", "state": "Idaho", "country": "us"}]  # none for Springfield


def test_nominatim_geocoder_reports_unknown_places_and_parses_points_locally():
    client = FakeNominatim({})
    nominatim = NominatimGeocoder("test-agent", client=client)
    with pytest.raises(PlaceNotFound, match="could not find"):
        nominatim.locate("Nowhereville, OH")
    assert client.calls == [{"city": "Nowhereville", "state": "Ohio", "country": "us"}]
    assert nominatim.locate("40.0,-75.0").latitude == 40.0
    assert nominatim.locate("42.3647,-71.1042").label == "Cambridge, MA (42.3647, -71.1042)"
    assert len(client.calls) == 1


class FailingNominatim:
    """The online service failing as geopy reports it (the network is the only thing faked)."""

    def __init__(self, error):
        self.error, self.calls = error, 0

    def geocode(self, query):
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    "error",
    [GeocoderUnavailable("connection refused"), GeocoderTimedOut("timed out"), GeocoderRateLimited("429")],
    ids=["unreachable", "timeout", "rate-limited"],
)
def test_nominatim_failures_fall_back_to_the_offline_tables(error, caplog):
    client = FailingNominatim(error)
    nominatim = NominatimGeocoder("test-agent", client=client)
    offline = OfflineGeocoder()
    assert nominatim.locate("02139") == offline.locate("02139")
    assert nominatim.locate("St. Louis, MO") == offline.locate("saint louis, mo")
    with pytest.raises(PlaceNotFound, match="not a US ZIP code we know"):
        nominatim.locate("00000")
    # Failures are not cached: the service is asked again next time.
    nominatim.locate("02139")
    assert client.calls == 4
    assert "located offline" in caplog.text and "02139" not in caplog.text


def test_make_geocoder_rejects_unknown_kind():
    assert isinstance(make_geocoder("offline"), OfflineGeocoder)
    with pytest.raises(ValueError, match="GEOCODER must be"):
        make_geocoder("magic")


@pytest.mark.parametrize(
    ("latitude", "longitude", "state"),
    [(41.88, -87.63, "IL"), (61.2181, -149.9003, "AK"), (21.3069, -157.8583, "HI"), (38.9072, -77.0369, "DC"),
     (64.0, -160.0, "AK"), (0.0, 0.0, None), (30.0, -40.0, None)],
)  # fmt: skip
def test_the_state_of_a_point_is_the_nearest_zip_codes(latitude, longitude, state):
    assert state_of_point(latitude, longitude) == state
