"""The search form, shared by the search pages and `GET /api/v1/centers/search`, and
`plain_search_query`: the form's answer for a plainly valid search, without building the form."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, StopValidation, ValidationError

from directory.i18n import translate
from directory.models.upkeep import MAX_NOTE_LENGTH, REPORT_REASONS
from directory.search.geocoding import Geocoder, Place, PlaceNotFound, coarse_point
from directory.search.service import (
    DEFAULT_RADIUS_MILES,
    DEFAULT_SORT,
    MAX_PER_PAGE,
    MAX_RADIUS_MILES,
    PATHWAYS,
    SORTS,
    SearchFilters,
    SearchQuery,
)
from directory.translatable import N_
from directory.vocabulary import (
    DETOX_SUBSTANCES,
    LANGUAGES,
    LEVELS_OF_CARE,
    MEDICATIONS,
    PAYMENT_OPTIONS,
    POPULATIONS,
)


def choices(options: dict[str, str]) -> list[SelectChoice]:
    """Form choices from a code -> label mapping (labels marked for the catalogue where they are
    written), each label shown in the page's language."""
    return [SelectChoice(value, _l(label)) for value, label in options.items()]


MEDICATION_CHOICES = choices({"naltrexone": N_("Naltrexone (oral or injection)"), **MEDICATIONS})


class CodeListField(SelectMultipleField):
    """Several vocabulary codes, as repeated parameters or comma-separated."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = [code.strip() for value in valuelist for code in value.split(",") if code.strip()]

    def pre_validate(self, form: object) -> None:
        accepted = [choice.value for choice in self.choices]
        unknown = [code for code in self.data or [] if code not in accepted]
        if unknown:
            raise ValidationError(
                _(
                    "Unknown code %(codes)s; accepted: %(accepted)s.",
                    codes=", ".join(map(repr, unknown)),
                    accepted=", ".join(accepted),
                )
            )


class ChoiceField(SelectField):
    """One of a few values; an unknown one is named, with the accepted values."""

    def pre_validate(self, form: object) -> None:
        accepted = [choice.value for choice in self.choices]
        if self.data not in accepted:
            shown = ", ".join(repr(value) if value else _("empty") for value in accepted)
            raise ValidationError(
                _("Unknown value %(value)r; accepted: %(accepted)s.", value=self.data, accepted=shown)
            )


class Between:
    """A number within bounds; says once what is accepted, whether the input was a number or not."""

    def __init__(self, low: float, high: float, message: str) -> None:
        self.min, self.max, self.message = low, high, message
        self.field_flags = {"min": low, "max": high}

    def __call__(self, form: object, field: Field) -> None:
        if not field.raw_data or not field.raw_data[0].strip():
            field.errors[:] = []
            field.data = field.default
            raise StopValidation()
        if field.process_errors or not self.min <= field.data <= self.max:
            field.errors[:] = []
            raise StopValidation(self.message)


class SearchForm(FlaskForm):
    """What a person searches for: a place, a radius and what they need."""

    class Meta:
        csrf = False  # a search changes nothing

    near = StringField(
        _l("ZIP code or town"),
        validators=[InputRequired(_l("Enter a ZIP code or a town and state."))],
        filters=[coarse_point],
        description='A 5-digit ZIP, "City, ST" or "lat,lon"; a town alone ("Boston") when one town of that name '
        "is clearly meant (else 400 naming the largest), an address ending in its ZIP.",
    )
    radius_miles = FloatField(
        _l("Within (miles)"),
        default=DEFAULT_RADIUS_MILES,
        validators=[
            Between(0.1, MAX_RADIUS_MILES, _l("Choose a distance from 0.1 to %(max)s miles.", max=MAX_RADIUS_MILES))
        ],
    )
    level_of_care = CodeListField(_l("Level of care"), choices=choices(LEVELS_OF_CARE))
    detox_substance = CodeListField(_l("Detox for"), choices=choices(DETOX_SUBSTANCES))
    payment = CodeListField(_l("Payment"), choices=choices(PAYMENT_OPTIONS))
    medication = CodeListField(_l("Medication"), choices=MEDICATION_CHOICES)
    population = CodeListField(_l("Serves"), choices=choices(POPULATIONS))
    language = CodeListField(_l("Language"), choices=choices(LANGUAGES))
    accepting_referrals = ChoiceField(
        _l("Accepting referrals"), choices=choices({"": N_("Any"), "true": N_("Yes"), "false": N_("No")}), default=""
    )
    verified_only = BooleanField(_l("Only listings confirmed by the center"), false_values=("false", "0", "no", ""))
    pathway = ChoiceField(_l("Care pathway"), choices=choices({"": N_("Any"), **PATHWAYS}), default="")
    page = IntegerField(_l("Page"), default=1, validators=[Between(1, 1_000_000, _l("Pages start at 1."))])
    per_page = IntegerField(
        _l("Results per page"),
        default=20,
        validators=[Between(1, MAX_PER_PAGE, _l("Choose 1 to %(max)s results per page.", max=MAX_PER_PAGE))],
    )
    sort = ChoiceField(
        _l("Order"),
        choices=choices(SORTS),
        default=DEFAULT_SORT,
        description="distance: nearest first; confirmed_first: listings confirmed by the center in the last "
        "180 days first, then the rest, each nearest first.",
    )

    origin: Place | None = None
    #: Places the person may have meant, when the one typed was not found or names several.
    near_suggestions: tuple[str, ...] = ()

    def validate_near(self, field: StringField) -> None:
        try:
            self.origin = current_app.extensions["geocoder"].locate(field.data or "")
        except PlaceNotFound as error:
            self.near_suggestions = error.suggestions
            raise ValidationError(translate(error.message)) from error

    def to_query(self) -> SearchQuery:
        """The validated form as a search query (call after `validate()`)."""
        assert self.origin is not None
        accepting = {"true": True, "false": False}.get(self.accepting_referrals.data or "")
        return SearchQuery(
            origin=self.origin,
            radius_miles=self.radius_miles.data or DEFAULT_RADIUS_MILES,
            filters=SearchFilters(
                level_of_care=tuple(self.level_of_care.data or ()),
                detox_substance=tuple(self.detox_substance.data or ()),
                payment=tuple(self.payment.data or ()),
                medication=tuple(self.medication.data or ()),
                population=tuple(self.population.data or ()),
                language=tuple(self.language.data or ()),
                accepting_referrals=accepting,
                verified_only=bool(self.verified_only.data),
                pathway=self.pathway.data or None,
            ),
            page=self.page.data or 1,
            per_page=self.per_page.data or 20,
            sort=self.sort.data or DEFAULT_SORT,
        )


#: What `plain_search_query` takes as a number; anything else (signs, exponents, "nan",
#: spaces) is left to the form.
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,7})?")
_PLAIN_INTEGER = re.compile(r"[0-9]{1,7}")
N = TypeVar("N", int, float)
_CODE_LISTS = {
    name: frozenset(choice.value for choice in field.kwargs["choices"])
    for name, field in vars(SearchForm).items()
    if getattr(field, "field_class", None) is CodeListField
}
_ACCEPTING = {"": None, "true": True, "false": False}
_VERIFIED = {"": False, "false": False, "0": False, "no": False, "true": True, "1": True, "yes": True, "on": True}


def plain_search_query(args: Mapping[str, list[str]], geocoder: Geocoder) -> SearchQuery | None:
    """What `SearchForm(formdata=...)` would validate `args` (each parameter's list of values)
    into, when every parameter is plainly valid; None for anything else, which the form then
    parses and, if it is wrong, explains. The API's searches take this path: the form binds
    and validates 13 fields per request, a third of a millisecond of an uncached search's CPU.
    `tests/public/test_plain_search_query.py` holds the two to the same answers."""
    near = _one(args, "near")
    if not near or not near.strip():
        return None
    codes: dict[str, tuple[str, ...]] = {}
    for name, accepted in _CODE_LISTS.items():
        found = [code.strip() for value in args.get(name, ()) for code in value.split(",") if code.strip()]
        if not accepted.issuperset(found):
            return None
        codes[name] = tuple(found)
    radius = _number(_one(args, "radius_miles"), _PLAIN_DECIMAL, float, DEFAULT_RADIUS_MILES, 0.1, MAX_RADIUS_MILES)
    page = _number(_one(args, "page"), _PLAIN_INTEGER, int, 1, 1, 1_000_000)
    per_page = _number(_one(args, "per_page"), _PLAIN_INTEGER, int, 20, 1, MAX_PER_PAGE)
    accepting = _ACCEPTING.get(_one(args, "accepting_referrals") or "", ...)
    verified = _VERIFIED.get(_one(args, "verified_only") or "")
    pathway = _one(args, "pathway") or ""
    sort = _one(args, "sort", DEFAULT_SORT)
    if None in (radius, page, per_page, verified) or accepting is ... or sort not in SORTS:
        return None
    if pathway and pathway not in PATHWAYS:
        return None
    try:
        origin = geocoder.locate(coarse_point(near) or "")
    except PlaceNotFound:
        return None
    return SearchQuery(
        origin=origin,
        radius_miles=radius,
        filters=SearchFilters(**codes, accepting_referrals=accepting, verified_only=verified, pathway=pathway or None),
        page=page,
        per_page=per_page,
        sort=sort,
    )


def _one(args: Mapping[str, list[str]], name: str, absent: str | None = None) -> str | None:
    """The parameter's first value, as the form reads it."""
    values = args.get(name)
    return values[0] if values else absent


def _number(
    text: str | None, pattern: re.Pattern[str], kind: Callable[[str], N], default: N, low: N, high: N
) -> N | None:
    """`text` as a number within [low, high] (empty or absent: `default`), or None."""
    if not text:
        return default
    if not pattern.fullmatch(text):
        return None
    value = kind(text)
    return value if low <= value <= high else None


class ReportForm(FlaskForm):
    """What is wrong with a listing; checked by `directory.upkeep.reports`. Asks nothing about the person."""

    reason = RadioField(_l("What is wrong with this listing?"), choices=choices(REPORT_REASONS), validate_choice=False)
    note = TextAreaField(
        _l("Anything to add (optional)"),
        description=_l(
            "Up to %(max)s characters, e.g. the right phone number. Please do not write "
            "names, contact details or anything about anyone's health.",
            max=MAX_NOTE_LENGTH,
        ),
    )
