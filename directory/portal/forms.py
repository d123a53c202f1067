"""Forms of the center portal. Field values are checked by `directory.centers_editing`, with the
importers' rules, so the form and an import accept the same values."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from directory.centers_editing import (
    EDITABLE_FIELDS,
    FIELD_LABELS,
    MAX_BEDS,
    ListingError,
    check_capacity,
    check_center_edit,
)
from directory.i18n import translate
from directory.models import Center
from directory.models.upkeep import MAX_NOTE_LENGTH
from directory.public.forms import choices
from directory.sources.records import MULTI_VALUED
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, STATES


class CodeCheckboxes(SelectMultipleField):
    """A group of vocabulary checkboxes; unknown codes are reported by the shared checks."""

    def pre_validate(self, form: object) -> None:
        pass


class StateField(SelectField):
    """A state or territory; an unknown code is reported by the shared checks."""

    def pre_validate(self, form: object) -> None:
        pass


def _attach(form: FlaskForm, error: ListingError) -> None:
    """Put the shared checks' messages on the form's fields, in the page's language."""
    for name, marked in error.fields.items():
        messages = [translate(message) for message in marked]
        field: Field | None = getattr(form, name, None)
        if field is None:
            form.form_errors.extend(messages)
        else:
            field.errors = [*field.errors, *messages]


class CenterEditForm(FlaskForm):
    """A center's profile: contact, address, care offered, payment, people served and languages."""

    name = StringField(_l(FIELD_LABELS["name"]))
    alt_name = StringField(_l(FIELD_LABELS["alt_name"]), description=_l("Another name people may know the center by."))
    phone = StringField(_l(FIELD_LABELS["phone"]), description=_l("For example (312) 555-0100."))
    intake_phone = StringField(_l(FIELD_LABELS["intake_phone"]), description=_l("If intake has its own number."))
    website = StringField(_l(FIELD_LABELS["website"]), description=_l("Starting with https:// or http://."))
    street1 = StringField(_l(FIELD_LABELS["street1"]))
    street2 = StringField(_l(FIELD_LABELS["street2"]))
    city = StringField(_l(FIELD_LABELS["city"]))
    state = StateField(_l(FIELD_LABELS["state"]), choices=choices(STATES))
    zip = StringField(_l(FIELD_LABELS["zip"]), description=_l("5 digits, e.g. 02139."))
    latitude = StringField(
        _l(FIELD_LABELS["latitude"]), description=_l("Decimal degrees, e.g. %(example)s.", example="41.8855")
    )
    longitude = StringField(
        _l(FIELD_LABELS["longitude"]), description=_l("Decimal degrees, e.g. %(example)s.", example="-87.6217")
    )
    levels_of_care = CodeCheckboxes(
        _l(FIELD_LABELS["levels_of_care"]), choices=choices(ATTRIBUTE_VOCABULARIES["levels_of_care"])
    )
    detox_substances = CodeCheckboxes(
        _l(FIELD_LABELS["detox_substances"]), choices=choices(ATTRIBUTE_VOCABULARIES["detox_substances"])
    )
    payment_options = CodeCheckboxes(
        _l(FIELD_LABELS["payment_options"]), choices=choices(ATTRIBUTE_VOCABULARIES["payment_options"])
    )
    medications = CodeCheckboxes(
        _l(FIELD_LABELS["medications"]), choices=choices(ATTRIBUTE_VOCABULARIES["medications"])
    )
    populations = CodeCheckboxes(
        _l(FIELD_LABELS["populations"]), choices=choices(ATTRIBUTE_VOCABULARIES["populations"])
    )
    languages = CodeCheckboxes(_l(FIELD_LABELS["languages"]), choices=choices(ATTRIBUTE_VOCABULARIES["languages"]))
    detox_stay_days = StringField(
        _l(FIELD_LABELS["detox_stay_days"]), description=_l("1 to 365; leave blank if not known.")
    )

    #: The checked values, ready for `apply_center_edit` (set by `validate`).
    values: dict[str, Any]

    @classmethod
    def for_center(cls, center: Center) -> CenterEditForm:
        """The form filled in with the center's listing (latitude and longitude left blank)."""
        data: dict[str, Any] = {}
        for name in EDITABLE_FIELDS:
            if name in MULTI_VALUED:
                data[name] = center.codes(name)
            elif name in ("latitude", "longitude"):
                continue
            else:
                value = getattr(center, name)
                data[name] = "" if value is None else str(value)
        return cls(formdata=None, data=data)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        submitted = {name: self[name].data for name in EDITABLE_FIELDS}
        try:
            self.values = check_center_edit(submitted)
        except ListingError as error:
            _attach(self, error)
            return False
        return ok


class CapacityForm(FlaskForm):
    """The one-click capacity update: accepting referrals or not, and free beds."""

    accepting_referrals = RadioField(
        _l(FIELD_LABELS["accepting_referrals"]),
        choices=choices({"true": _l("Yes"), "false": _l("No")}),
        validate_choice=False,
    )
    beds_available = StringField(
        _l(FIELD_LABELS["beds_available"]),
        description=_l("0 to %(max)s; leave blank if you do not know.", max=MAX_BEDS),
    )

    accepting: bool = True
    beds: int | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        try:
            self.accepting, self.beds = check_capacity(self.accepting_referrals.data, self.beds_available.data)
        except ListingError as error:
            _attach(self, error)
            return False
        return ok


class ConfirmForm(FlaskForm):
    """ "This listing is accurate": nothing to fill in but the CSRF token."""


class ClaimForm(FlaskForm):
    message = TextAreaField(
        _l("Message to the administrators"),
        validators=[Optional(), Length(max=1000, message=_l("Keep the message to %(n)s characters.", n=1000))],
        description=_l("Optional: your job at the center, and how we can check (e.g. a work phone number)."),
    )


class ListingSearchForm(FlaskForm):
    """Find a listing to claim or manage: part of its name (and a state), or its ZIP code."""

    class Meta:
        csrf = False  # a search changes nothing

    name = StringField(_l("Name of the center"), validators=[Optional(), Length(max=200)])
    state = SelectField(_l("State"), choices=choices({"": _l("Any state"), **STATES}), default="")
    zip = StringField(_l("or ZIP code"), validators=[Optional(), Length(max=10)])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        name, zip_code = (self.name.data or "").strip(), (self.zip.data or "").strip()
        if not name and not zip_code:
            self.name.errors = [*self.name.errors, _("Enter part of the center's name, or its ZIP code.")]
            return False
        if name and len(name) < 2:
            self.name.errors = [*self.name.errors, _("Enter at least 2 letters of the name.")]
            return False
        if zip_code and not (len(zip_code) == 5 and zip_code.isascii() and zip_code.isdigit()):
            self.zip.errors = [*self.zip.errors, _("“%(zip)s” is not a ZIP code (5 digits, e.g. 02139).", zip=zip_code)]
            return False
        return ok


class ResolveReportForm(FlaskForm):
    """Close a problem report: the button pressed says how (fixed, not a problem); a note is optional.
    Both are checked by `directory.upkeep.reports`."""

    outcome = StringField(_l("Outcome"))
    note = StringField(
        _l("What was done (optional)"),
        description=_l("Up to %(n)s characters, e.g. “phone number corrected”.", n=MAX_NOTE_LENGTH),
    )
