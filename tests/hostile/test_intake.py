"""Property: any intake, as a dict or as JSON to the API or as the web form, gives a valid referral
or field errors; the API answers 202 or 400, never 500, and writes nothing on 400."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from directory.models import OutboxMessage, Referral
from directory.models.base import utcnow
from directory.referrals.intake import FIELDS, Intake, IntakeInvalid, validate_intake
from directory.search.geocoding import OfflineGeocoder
from directory.vocabulary import LANGUAGES, PAYMENT_OPTIONS, POPULATIONS
from tests.hostile.conftest import HOSTILE, intake

#: Any JSON value, with the numbers and strings that break naive code.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "true", "yes", "NaN", "1e999", "-inf", "0001-01-01", "9999-12-31"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _hostile(value: str) -> st.SearchStrategy:
    """A valid value with something hostile added or around it."""
    return st.sampled_from([value + "\x00", "\x00" + value, value + "\u202e", value * 50, f" {value} ", value.upper()])


#: Values close to valid for each field: right type, wrong content, or right content with a twist.
near_valid = {
    "client_reference": st.one_of(st.text(max_size=70), _hostile("CASE-1"), st.just("x" * 64)),
    "contact_phone": st.one_of(st.from_regex(r"\A\(?[0-9]{3}\)? ?[0-9]{3}-[0-9]{4}( x[0-9]{1,25})?\Z"),
                               _hostile("(312) 555-0100")),
    "location": st.one_of(st.sampled_from(["60601", "Chicago, IL", "41.88,-87.63", "Chicago\x00, IL",
                                           "60601\x00", "91.0,0", "x" * 121]), _hostile("Chicago, IL")),
    "max_distance_miles": st.one_of(st.floats(), st.integers(), st.sampled_from(["50", "1e3", "nan", "inf", 10**400])),
    "payment": st.one_of(st.sampled_from(list(PAYMENT_OPTIONS)), _hostile("medicaid")),
    "last_opioid_use": st.one_of(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
        st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z",
                         "2026-02-30T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00+24:00", "Z"]),
    ),
    "language": st.one_of(st.sampled_from(list(LANGUAGES)), _hostile("es")),
    "populations": st.one_of(st.lists(st.sampled_from([*POPULATIONS, "nope", ""]), max_size=3),
                             st.text(max_size=20)),
    "consent": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "granted": st.one_of(st.booleans(), st.sampled_from(["true", "on", "no", 1])),
                "recipients": st.one_of(st.text(max_size=20), _hostile("Centers"), json_values),
                "purpose": st.one_of(st.text(max_size=20), _hostile("Referral"), json_values),
                "expires_on": st.one_of(st.dates().map(date.isoformat), st.sampled_from(["2099-13-01", "9999-12-31"])),
            },
        ),
        json_values,
    ),
}  # fmt: skip

#: One field of an intake set to a near-valid value for it, or to any JSON value.
changes = st.sampled_from(FIELDS).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(near_valid.get(name, json_values), json_values))
)

#: A valid intake with one to three fields changed, maybe one left out, maybe an unknown one added.
intakes = st.builds(
    lambda base, changed, dropped, extra: {
        **{k: v for k, v in base.items() if k not in dropped},
        **dict(changed),
        **extra,
    },
    st.builds(intake),
    st.lists(changes, min_size=1, max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=1),
    st.dictionaries(st.text(max_size=10), json_values, max_size=1),
)

GEOCODER = OfflineGeocoder()


def _consent(**changes: object) -> dict[str, object]:
    return {**intake()["consent"], **changes}


#: Intakes that once broke the validator or the database (PostgreSQL refuses NUL characters).
REGRESSIONS = [
    {"max_distance_miles": 10**400},
    {"last_opioid_use": "0001-01-01T00:00:00+01:00"},
    {"last_opioid_use": "9999-12-31T23:59:59-14:00"},
    {"location": "Chicago\x00, IL"},
    {"consent": _consent(recipients="Centers\x00")},
    {"consent": _consent(purpose={"not": "text"})},
]


def regressions(test):
    """Every regression intake as an explicit example of a test taking one intake."""
    for changes in reversed(REGRESSIONS):
        test = example(intake(**changes))(test)
    return test


def _no_control_characters(text: str) -> bool:
    return not any(ord(ch) < 32 and ch not in "\t\n\r" or ch == "\x7f" for ch in text)


def check_outcome(data: object) -> Intake | IntakeInvalid:
    """Validate, and check the result is a sound intake or a clear list of field errors."""
    try:
        result = validate_intake(data, GEOCODER, utcnow())
    except IntakeInvalid as invalid:
        assert invalid.fields, "an IntakeInvalid with no field"
        assert set(invalid.fields) <= {*FIELDS, "(body)"}, invalid.fields
        for messages in invalid.fields.values():
            assert messages and all(isinstance(m, str) and m.strip() for m in messages), invalid.fields
        return invalid
    assert isinstance(result, Intake)
    assert 0 < len(result.client_reference) <= 64
    for text in (result.client_reference, result.location, result.consent_recipients, result.consent_purpose):
        assert isinstance(text, str) and text.strip() and _no_control_characters(text), text
    assert len(result.location) <= 120
    assert math.isfinite(result.max_distance_miles) and 1 <= result.max_distance_miles <= 500
    assert result.payment in PAYMENT_OPTIONS
    assert result.language is None or result.language in LANGUAGES
    assert set(result.populations) <= set(POPULATIONS)
    assert result.last_opioid_use.tzinfo is None
    return result


@settings(HOSTILE, max_examples=300)
@given(intakes)
@regressions
def test_any_intake_dict_is_a_valid_intake_or_field_errors(data):
    check_outcome(data)


@settings(HOSTILE, max_examples=300)
@given(st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_values, max_size=8))
def test_any_json_object_is_a_valid_intake_or_field_errors(data):
    check_outcome(data)


def _stored(world) -> tuple[int, int]:
    return world.count(Referral), world.count(OutboxMessage)


@HOSTILE
@given(st.one_of(intakes, json_values, st.binary(max_size=40)))
@regressions
def test_the_api_answers_202_400_or_409_and_writes_nothing_on_400_or_409(world, body):
    """202, or 400 for an invalid intake, or 409 for a valid one whose client reference is already
    in progress (the examples share one sender)."""
    before = _stored(world)
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) else {"json": body}
    response = world.client().post("/api/v1/referrals", headers=world.bearer("referral_staff"), **kwargs)
    assert response.status_code in (202, 400, 409), (body, response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    answer = response.get_json()
    if response.status_code == 409:
        assert "already have a referral in progress" in answer["error"]
        assert _stored(world) == before
        assert isinstance(check_outcome(body), Intake)
    elif response.status_code == 400:
        assert answer["error"].strip()
        assert _stored(world) == before
        expected = check_outcome(body) if isinstance(body, dict) else None
        assert expected is None or isinstance(expected, IntakeInvalid)
    else:
        assert _stored(world)[0] == before[0] + 1
        with world.app.app_context():
            from directory.extensions import db

            stored = db.session.scalar(select(Referral).where(Referral.id == answer["id"]))
            assert stored is not None and stored.client_reference == str(body["client_reference"]).strip()


def _form(data: dict) -> dict[str, object]:
    """An intake dict as the web form posts it (consent fields flattened, lists as repeated fields)."""
    form: dict[str, object] = {}
    for name, value in data.items():
        if name == "consent" and isinstance(value, dict):
            for part, inner in value.items():
                form[f"consent_{part}"] = inner if isinstance(inner, str) else json.dumps(inner)
        elif isinstance(value, list):
            form[name] = [v if isinstance(v, str) else json.dumps(v) for v in value]
        elif isinstance(value, bool):
            form[name] = "yes" if value else "no"
        elif value is not None:
            form[name] = value if isinstance(value, str) else json.dumps(value)
    return form


@HOSTILE
@given(intakes)
@regressions
def test_the_web_form_saves_a_referral_or_shows_errors_and_writes_nothing(world, data):
    before = _stored(world)
    response = world.client("referral_staff").post("/referrals/new", data=_form(data))
    assert response.status_code in (302, 400), (data, response.status_code)
    if response.status_code == 400:
        assert _stored(world) == before
    else:
        assert _stored(world)[0] == before[0] + 1
