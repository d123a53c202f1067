"""`plain_search_query` against the search form it stands in for: same query, or leaves it to the form."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from directory.public.forms import SearchForm, plain_search_query
from directory.search.service import PATHWAYS, SORTS, SearchQuery
from directory.vocabulary import LANGUAGES, LEVELS_OF_CARE, MEDICATIONS, PAYMENT_OPTIONS, POPULATIONS

CODES = {
    "level_of_care": list(LEVELS_OF_CARE),
    "payment": list(PAYMENT_OPTIONS),
    "medication": ["naltrexone", *MEDICATIONS],
    "population": list(POPULATIONS),
    "language": list(LANGUAGES),
}
#: Values each parameter plainly takes.
VALID = {
    "near": ["19104", " 19104 ", "60601", "Chicago, IL", "chicago, il", "41.88,-87.62"],
    "radius_miles": ["", "0.1", "10", "10.5", "25", "100", "500", "500.0", "007"],
    "accepting_referrals": ["", "true", "false"],
    "verified_only": ["", "true", "false", "0", "1", "no", "yes", "on"],
    "pathway": ["", *PATHWAYS],
    "page": ["", "1", "2", "007", "1000000"],
    "per_page": ["", "1", "20", "100"],
    "sort": list(SORTS),
}
#: Values just beside them, that the form refuses or reads in its own way.
EDGE = {
    "near": ["", " ", "99999", "Nowhere, ZZ", "1910"],
    "radius_miles": ["0", "0.09", "500.01", "10.", ".5", " 10", "1e2", "nan", "inf", "-5"],
    "accepting_referrals": ["yes", "True"],
    "verified_only": ["off", "False", "x"],
    "pathway": ["detox"],
    "page": ["0", "1000001", "1.5", " 2", "-1"],
    "per_page": ["0", "101"],
    "sort": ["", "nearest"],
}
ODD = ["", " ", "x", "٣", "0x10", "1_0", "\t", "NULL", "' OR 1=1 --"]
FIELDS = [*VALID, *CODES]


def codes(name: str, valid: bool) -> st.SearchStrategy[str]:
    """A value of a code-list parameter: codes, comma-separated, spaces around, empty ones."""
    code = st.sampled_from([*CODES[name], "", " "] if valid else [*CODES[name], "unknown", ""])
    return st.lists(code, max_size=3).flatmap(
        lambda chosen: st.sampled_from([",", ", ", " ,"]).map(lambda sep: sep.join(chosen))
    )


def valid_value(name: str) -> st.SearchStrategy[str]:
    return codes(name, valid=True) if name in CODES else st.sampled_from(VALID[name])


def any_value(name: str) -> st.SearchStrategy[str]:
    """Mostly valid, one in five just beside, one in ten odd, one in ten any text."""
    edge = codes(name, valid=False) if name in CODES else st.sampled_from(EDGE[name])
    return st.integers(0, 9).flatmap(
        lambda i: (
            edge if i < 2 else st.sampled_from(ODD) if i == 2 else st.text(max_size=8) if i == 3 else valid_value(name)
        )
    )


def parameters(value: Callable[[str], st.SearchStrategy[str]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query parameters: a place first, the other fields each absent or once, then up to two
    more of any field (a repeated one: the form reads its first) or one the search ignores."""
    return st.builds(
        lambda near, fields, more: [("near", near), *fields.items(), *more],
        value("near"),
        st.fixed_dictionaries({}, optional={name: value(name) for name in FIELDS if name != "near"}),
        st.lists(
            st.sampled_from([*FIELDS, "utm_source"]).flatmap(
                lambda name: st.tuples(st.just(name), value(name if name in FIELDS else "near"))
            ),
            max_size=2,
        ),
    )


HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def app_context(app: Flask) -> Iterator[Flask]:
    with app.test_request_context():
        yield app


def form_query(pairs: list[tuple[str, str]]) -> SearchQuery | None:
    """What the search form makes of these parameters (None: it refuses them)."""
    form = SearchForm(formdata=MultiDict(pairs))
    return form.to_query() if form.validate() else None


def plain_query(app: Flask, pairs: list[tuple[str, str]]) -> SearchQuery | None:
    return plain_search_query(MultiDict(pairs).to_dict(flat=False), app.extensions["geocoder"])


@HYPOTHESIS
@given(pairs=parameters(valid_value))
def test_valid_parameters_skip_the_form_with_its_answer(app_context, pairs):
    plain = plain_query(app_context, pairs)
    assert plain is not None
    assert plain == form_query(pairs)


@HYPOTHESIS
@given(pairs=parameters(any_value))
def test_any_parameters_get_the_forms_answer_or_are_left_to_it(app_context, pairs):
    plain = plain_query(app_context, pairs)
    if plain is not None:
        assert plain == form_query(pairs)


PLAIN = [
    [("near", "19104")],
    [("near", "Chicago, IL"), ("radius_miles", "50")],
    [("near", "41.88,-87.62"), ("radius_miles", "10.5"), ("page", "2"), ("per_page", "50")],
    [("near", "60601"), ("medication", "naltrexone,methadone"), ("payment", "medicaid"), ("payment", "self_pay")],
    [("near", "60601"), ("level_of_care", "medical_detox"), ("language", "es"), ("population", "adolescents")],
    [("near", "60601"), ("pathway", "detox_naltrexone"), ("sort", "confirmed_first"), ("verified_only", "true")],
    [("near", "60601"), ("accepting_referrals", "false"), ("verified_only", ""), ("radius_miles", "")],
    [("near", " 19104 "), ("utm_source", "newsletter")],
    [("near", "19104"), ("near", "60601"), ("page", "3"), ("page", "x")],  # the first of each, as the form reads
]


@pytest.mark.parametrize("pairs", PLAIN, ids=lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
def test_plainly_valid_searches_skip_the_form_with_its_answer(app_context, pairs):
    plain = plain_query(app_context, pairs)
    assert plain is not None
    assert plain == form_query(pairs)


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("near", "")],
        [("near", "Nowhere, ZZ")],
        [("near", "19104"), ("radius_miles", "abc")],
        [("near", "19104"), ("radius_miles", "1e2")],
        [("near", "19104"), ("medication", "naltrexone,aspirin")],
        [("near", "19104"), ("sort", "")],
        [("near", "19104"), ("verified_only", "off")],
    ],
    ids=repr,
)
def test_anything_else_is_left_to_the_form(app_context, pairs):
    assert plain_query(app_context, pairs) is None


def test_the_api_still_explains_what_the_form_refuses(client):
    response = client.get("/api/v1/centers/search?near=19104&medication=naltrexone,aspirin&radius_miles=abc")
    assert response.status_code == 400
    fields = response.get_json()["fields"]
    assert fields["medication"] == [f"Unknown code 'aspirin'; accepted: {', '.join(CODES['medication'])}."]
    assert fields["radius_miles"] == ["Choose a distance from 0.1 to 500 miles."]
