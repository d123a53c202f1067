"""Property: any text typed as a place gives a Place or PlaceNotFound, and the search pages and the
search API answer 200 or 400 with a message, never a server error."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from directory.search.geocoding import NominatimGeocoder, OfflineGeocoder, Place, PlaceNotFound
from directory.vocabulary import STATES
from tests.factories import add_centers, center_record
from tests.hostile.conftest import HOSTILE

HOSTILE_STRINGS = [
    "' OR 1=1 --",
    "'; DROP TABLE centers; --",
    '" OR ""="',
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "60601\x00",
    "Chicago\x00, IL",
    "\x00",
    "99999999999999999999,1",
    "1e999,1e999",
    "nan,nan",
    "-0,-0",
    "90.0000000000000000001,180",
    "٦٠٦٠١",  # ZIP digits in another script
    "Chicago,, IL",
    ", IL",
    "IL",
    "St.. Louis, MO",
    "x" * 121,
    " " * 200 + "60601",
    "\u202e60601",
    "Springfield, Ｉllinois",
]

#: Text shaped like each kind of place, slightly wrong in every way hypothesis can think of.
digits = st.text("0123456789-+.٠١٢٣", min_size=1, max_size=12)
state_words = st.sampled_from([*STATES, *STATES.values(), "ZZ", "", "New", "Mexico", "Utah."])
town_words = st.text(st.characters(codec="utf-8"), max_size=25)
separators = st.sampled_from([",", " ", ", ", "\t", ",,", "\n", "\x00", ""])
places = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=130),
    st.builds(lambda a, sep, b: f"{a}{sep}{b}", digits, separators, digits),
    st.builds(lambda town, sep, state: f"{town}{sep}{state}", town_words, separators, state_words),
    st.builds(lambda zip_code, rest: zip_code + rest, st.from_regex(r"\A[0-9]{5}\Z"), st.text(max_size=6)),
)


def assert_place_or_clear_error(geocoder, text: str) -> None:
    try:
        place = geocoder.locate(text)
    except PlaceNotFound as error:
        assert str(error).strip(), f"empty message for {text!r}"
        return
    assert isinstance(place, Place)
    assert isinstance(place.label, str) and place.label
    assert math.isfinite(place.latitude) and -90 <= place.latitude <= 90
    assert math.isfinite(place.longitude) and -180 <= place.longitude <= 180


@HOSTILE
@given(places)
def test_the_offline_geocoder_gives_a_place_or_a_clear_error(text):
    assert_place_or_clear_error(OfflineGeocoder(), text)


class _FakeNominatim:
    """Nominatim's answers without the network: nothing found, or a place (even one that gets odd coordinates)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def geocode(self, query: dict) -> object:
        if self.answer == "nothing":
            return None
        return SimpleNamespace(address=f"{query}", latitude="41.88", longitude="-87.63")


@HOSTILE
@given(places, st.sampled_from(["nothing", "found"]))
def test_the_nominatim_geocoder_gives_a_place_or_a_clear_error(text, answer):
    assert_place_or_clear_error(NominatimGeocoder("tests", client=_FakeNominatim(answer)), text)


@pytest.fixture
def one_center(session) -> None:
    """A center at downtown Chicago, so some searches find something."""
    add_centers(session, center_record())


search_values = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=20))


@HOSTILE
@given(
    near=places,
    extra=st.dictionaries(
        st.sampled_from(["radius_miles", "page", "per_page", "sort", "pathway", "medication", "payment",
                         "language", "accepting_referrals", "verified_only", "level_of_care", "population"]),
        st.one_of(search_values, st.integers(-(10**30), 10**30).map(str), st.floats().map(repr)),
        max_size=4,
    ),
)  # fmt: skip
def test_the_search_page_and_api_answer_results_or_a_message(app, one_center, near, extra):
    client = app.test_client()
    query = {"near": near, **extra}

    api = client.get("/api/v1/centers/search", query_string=query)
    assert api.status_code in (200, 400), (query, api.status_code)
    assert api.mimetype == "application/json"
    body = api.get_json()
    if api.status_code == 400:
        assert body["error"] and body["fields"], body
        messages = [message for messages in body["fields"].values() for message in messages]
        assert all(isinstance(m, str) and m.strip() for m in messages)
    else:
        assert isinstance(body["results"], list)

    for path in ("/search", "/"):
        page = client.get(path, query_string=query)
        # The home page shows any search it is given, but one with a NUL character is refused outright.
        has_nul = any("\x00" in f"{name}{value}" for name, value in query.items())
        expected = (200,) if path == "/" and not has_nul else (api.status_code,)
        assert page.status_code in expected, (path, query, page.status_code)
        if page.status_code == 400:
            html = page.get_data(as_text=True)
            assert any(str(escape(m)) in html for m in messages), (query, messages)
