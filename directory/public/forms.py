"""The search form, shared by the search pages and `GET /api/v1/centers/search`."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from directory.search.engine import (
    DEFAULT_RADIUS_MILES,
    MAX_PER_PAGE,
    MAX_RADIUS_MILES,
    PATHWAYS,
    SearchFilters,
    SearchQuery,
)
from directory.search.geocoding import Place, PlaceNotFound
from directory.vocabulary import LANGUAGES, LEVELS_OF_CARE, MEDICATIONS, PAYMENT_OPTIONS, POPULATIONS

MEDICATION_CHOICES = [("naltrexone", "Naltrexone (oral or injection)"), *MEDICATIONS.items()]


class CodeListField(SelectMultipleField):
    """Several vocabulary codes, as repeated parameters or comma-separated."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = [code.strip() for value in valuelist for code in value.split(",") if code.strip()]

    def pre_validate(self, form: object) -> None:
        accepted = [value for value, _ in self.choices]
        unknown = [code for code in self.data or [] if code not in accepted]
        if unknown:
            raise ValidationError(f"Unknown code {', '.join(map(repr, unknown))}; accepted: {', '.join(accepted)}.")


class SearchForm(FlaskForm):
    """What a person searches for: a place, a radius and what they need."""

    class Meta:
        csrf = False  # a search changes nothing

    near = StringField(
        "ZIP code or town",
        validators=[InputRequired("Enter a ZIP code or a town and state.")],
        description='A 5-digit ZIP, "City, ST" or "lat,lon".',
    )
    radius_miles = FloatField(
        "Within (miles)",
        default=DEFAULT_RADIUS_MILES,
        validators=[
            Optional(),
            NumberRange(
                min=0.1, max=MAX_RADIUS_MILES, message=f"Choose a distance from 0.1 to {MAX_RADIUS_MILES} miles."
            ),
        ],
    )
    level_of_care = CodeListField("Level of care", choices=list(LEVELS_OF_CARE.items()))
    payment = CodeListField("Payment", choices=list(PAYMENT_OPTIONS.items()))
    medication = CodeListField("Medication", choices=MEDICATION_CHOICES)
    population = CodeListField("Serves", choices=list(POPULATIONS.items()))
    language = CodeListField("Language", choices=list(LANGUAGES.items()))
    accepting_referrals = SelectField(
        "Accepting referrals", choices=[("", "Any"), ("true", "Yes"), ("false", "No")], default="", validate_choice=True
    )
    verified_only = BooleanField("Only listings confirmed by the center", false_values=("false", "0", "no", ""))
    pathway = SelectField("Care pathway", choices=[("", "Any"), *PATHWAYS.items()], default="")
    page = IntegerField("Page", default=1, validators=[Optional(), NumberRange(min=1, message="Pages start at 1.")])
    per_page = IntegerField(
        "Results per page",
        default=20,
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_PER_PAGE, message=f"Choose 1 to {MAX_PER_PAGE} results per page."),
        ],
    )

    origin: Place | None = None

    def validate_near(self, field: StringField) -> None:
        try:
            self.origin = current_app.extensions["geocoder"].locate(field.data or "")
        except PlaceNotFound as error:
            raise ValidationError(str(error)) from error

    def to_query(self) -> SearchQuery:
        """The validated form as a search query (call after `validate()`)."""
        assert self.origin is not None
        accepting = {"true": True, "false": False}.get(self.accepting_referrals.data or "")
        return SearchQuery(
            origin=self.origin,
            radius_miles=self.radius_miles.data or DEFAULT_RADIUS_MILES,
            filters=SearchFilters(
                level_of_care=tuple(self.level_of_care.data or ()),
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
        )
