"""Forms of the referral staff pages. The intake form's values are checked by
`directory.referrals.intake.validate_intake`, the same checks the API makes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from directory.i18n import translate
from directory.public.forms import choices
from directory.referrals.intake import DEFAULT_MAX_DISTANCE_MILES, IntakeInvalid, time_zone_names
from directory.routing.rules import (
    INTERACTING_MEDICATIONS,
    PRIMARY_OPIOIDS,
    RECENT_OPIOID_USE_ANSWERS,
    USE_DISORDERS,
)
from directory.translatable import N_
from directory.vocabulary import LANGUAGES, PAYMENT_OPTIONS, POPULATIONS

SITE_NAME = N_("Treatment Directory")
CONSENT_DAYS = 180

OPIOID_LABELS: dict[str, LazyString] = {
    "heroin": _l("Heroin"),
    "oxycodone": _l("Oxycodone"),
    "hydrocodone": _l("Hydrocodone"),
    "morphine": _l("Morphine"),
    "methadone": _l("Methadone"),
    "buprenorphine": _l("Buprenorphine"),
    "fentanyl": _l("Fentanyl"),
    "other": _l("Another opioid"),
    "unknown": _l("Not known"),
}
assert tuple(OPIOID_LABELS) == PRIMARY_OPIOIDS

INTERACTING_MEDICATION_LABELS: dict[str, LazyString] = {
    "other_opioids": _l("Other opioids"),
    "alcohol": _l("Alcohol"),
    "tranquilizers": _l("Tranquilizers"),
    "sedatives": _l("Sedatives"),
    "cold_and_cough_medicines": _l("Cold and cough medicines"),
    "antidiarrheal_medicines": _l("Antidiarrheal medicines"),
    "disulfiram": _l("Disulfiram"),
    "thioridazine": _l("Thioridazine"),
}
assert tuple(INTERACTING_MEDICATION_LABELS) == INTERACTING_MEDICATIONS

LIVER_DISEASE_LABELS = {"yes": _l("Yes"), "no": _l("No"), "unknown": _l("Not known")}
USE_DISORDER_LABELS = {"alcohol": _l("Alcohol use disorder"), "opioids": _l("Opioid use disorder")}
assert tuple(USE_DISORDER_LABELS) == USE_DISORDERS
RECENT_OPIOID_USE_LABELS = {"yes": _l("Yes"), "no": _l("No"), "unknown": _l("Not known")}
assert tuple(RECENT_OPIOID_USE_LABELS) == RECENT_OPIOID_USE_ANSWERS

#: The intake form's time zone without JavaScript (with it, the browser's own zone is chosen).
FORM_TIME_ZONE = "America/New_York"
#: The zones of the states and territories, first in the list; every other IANA zone follows.
US_TIME_ZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico", "Pacific/Guam", "Pacific/Pago_Pago",
)  # fmt: skip


def time_zone_choices() -> dict[LazyString, list[tuple[str, str]]]:
    """The time zone select's options, in two groups: the US zones, then all others A to Z."""
    others = sorted(time_zone_names() - set(US_TIME_ZONES))
    return {
        _l("United States"): [(zone, zone.replace("_", " ")) for zone in US_TIME_ZONES],
        _l("Everywhere"): [(zone, zone.replace("_", " ")) for zone in others],
    }


#: Where the shared checks' consent messages belong on the form (by the word each one names).
CONSENT_MESSAGE_FIELDS = (
    ("(recipients)", "consent_recipients"),
    ("(purpose)", "consent_purpose"),
    ("expire", "consent_expires_on"),
)


class CodeCheckboxes(SelectMultipleField):
    """A group of checkboxes; unknown codes are reported by the shared checks."""

    def pre_validate(self, form: object) -> None:
        pass


class CodeSelect(SelectField):
    """A select or radio group; an unknown or missing choice is reported by the shared checks."""

    def pre_validate(self, form: object) -> None:
        pass


class CodeRadios(RadioField):
    def pre_validate(self, form: object) -> None:
        pass


class IntakeForm(FlaskForm):
    """A referral: the person's case number, where they are, how they pay, the clinical facts, consent."""

    client_reference = StringField(
        _l("Client reference"), description=_l("Your own case number — not the person's name.")
    )
    contact_phone = StringField(
        _l("Contact phone (optional)"), description=_l("Where the receiving center can reach the person or you.")
    )
    location = StringField(
        _l("Where the person is"),
        description=_l('A ZIP code, "City, ST" (e.g. Chicago, IL) or "latitude,longitude".'),
    )
    max_distance_miles = StringField(_l("Farthest distance (miles)"), description=_l("1 to 500 miles."))
    payment = CodeSelect(_l("Payment"), choices=choices({"": _l("Choose how the person pays"), **PAYMENT_OPTIONS}))
    use_disorders = CodeCheckboxes(_l("The referral is for"), choices=choices(USE_DISORDER_LABELS))
    recent_opioid_use = CodeRadios(
        _l("Alcohol alone: any opioid use in the last 10 days?"),
        choices=choices(RECENT_OPIOID_USE_LABELS),
        description=_l(
            "Naltrexone needs the person opioid-free. If yes or not known, give the last use below if known."
        ),
    )
    primary_opioid = CodeSelect(
        _l("Primary opioid"),
        choices=choices({"": _l("Choose the opioid"), **OPIOID_LABELS}),
        description=_l("Required for opioid use disorder."),
    )
    last_opioid_use = StringField(
        _l("Last opioid use"),
        description=_l(
            "Required for opioid use disorder. Date and time of the last use, as a clock in the time zone "
            "below showed it."
        ),
    )
    time_zone = CodeSelect(
        _l("Time zone"),
        description=_l("Your browser's, when it says; change it if the time above is another zone's."),
    )
    liver_disease = CodeRadios(_l("Liver disease"), choices=choices(LIVER_DISEASE_LABELS))
    on_opioid_pain_therapy = CodeRadios(
        _l("Needs opioid pain medication"), choices=choices({"yes": _l("Yes"), "no": _l("No")})
    )
    interacting_medications = CodeCheckboxes(
        _l("Takes or uses (interacts with naltrexone)"), choices=choices(INTERACTING_MEDICATION_LABELS)
    )
    language = CodeSelect(_l("Language (optional)"), choices=choices({"": _l("English"), **LANGUAGES}))
    populations = CodeCheckboxes(_l("Needs a program for (optional)"), choices=choices(POPULATIONS))
    consent_granted = BooleanField(_l("The person consents to share this referral with receiving treatment centers"))
    consent_recipients = TextAreaField(_l("Who may receive it"))
    consent_purpose = TextAreaField(_l("For what purpose"))
    consent_expires_on = StringField(_l("Consent ends on"), description=_l("The last day the person's consent covers."))
    #: Shown once the referral turned out to share its client reference with one in progress.
    send_anyway = BooleanField(_l("Send it anyway: it is for another person, or a new episode of care"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone.choices = time_zone_choices()

    @classmethod
    def blank(cls, today: date) -> IntakeForm:
        """The empty form, with the usual distance and the consent wording filled in."""
        return cls(
            formdata=None,
            data={
                "max_distance_miles": str(DEFAULT_MAX_DISTANCE_MILES),
                "time_zone": FORM_TIME_ZONE,
                "consent_recipients": _("Treatment centers offered this referral through %(site)s", site=_(SITE_NAME)),
                "consent_purpose": _("Referral for substance use treatment"),
                "consent_expires_on": (today + timedelta(days=CONSENT_DAYS)).isoformat(),
            },
        )

    def intake_data(self) -> dict[str, Any]:
        """The submitted values in the shape `validate_intake` reads (the API's shape)."""
        return {
            "client_reference": self.client_reference.data or "",
            "contact_phone": self.contact_phone.data or "",
            "location": self.location.data or "",
            "max_distance_miles": self.max_distance_miles.data or "",
            "payment": self.payment.data or "",
            # None when none is ticked: the API's rule then applies (a primary opioid given means opioids).
            "use_disorders": list(self.use_disorders.data) if self.use_disorders.data else None,
            "recent_opioid_use": self.recent_opioid_use.data or "",
            "primary_opioid": self.primary_opioid.data or "",
            "last_opioid_use": self.last_opioid_use.data or "",
            "time_zone": self.time_zone.data or "",
            "liver_disease": self.liver_disease.data or "",
            "on_opioid_pain_therapy": self.on_opioid_pain_therapy.data or "",
            "interacting_medications": list(self.interacting_medications.data or []),
            "language": self.language.data or None,
            "populations": list(self.populations.data or []),
            "consent": {
                "granted": bool(self.consent_granted.data),
                "recipients": self.consent_recipients.data or "",
                "purpose": self.consent_purpose.data or "",
                "expires_on": self.consent_expires_on.data or "",
            },
        }

    def attach(self, error: IntakeInvalid) -> None:
        """Put the shared checks' messages beside the fields they are about."""
        for name, messages in error.fields.items():
            for message in messages:
                field = self._field_for(name, message)
                field.errors = [*field.errors, translate(_for_the_form(name, message))]

    def _field_for(self, name: str, message: str) -> Field:
        if name == "consent":
            for word, field_name in CONSENT_MESSAGE_FIELDS:
                if word in message:
                    return self[field_name]
            return self.consent_granted
        if name in self:
            return self[name]
        return self.client_reference


#: What to choose, for a choice left empty: each message names its field, so that the list of
#: problems above the form says which field it is about.
CHOOSE = {
    "payment": N_("Choose how the person pays."),
    "primary_opioid": N_("Choose the primary opioid (required for opioid use disorder)."),
    "recent_opioid_use": N_(
        "Choose whether the person used opioids in the last 10 days: yes, no or not known "
        "(asked when the referral is for alcohol alone)."
    ),
    "liver_disease": N_("Choose whether the person has liver disease: yes, no or not known."),
    "on_opioid_pain_therapy": N_("Choose whether the person needs opioid pain medication: yes or no."),
}


def _for_the_form(name: str, message: str) -> str:
    """The API's wording of a few messages, in the form's terms."""
    if name in CHOOSE and (message.startswith("Required") or message.startswith("Unknown value ''")):
        return CHOOSE[name]
    if name == "last_opioid_use" and message.startswith("Required"):
        return N_("Required for opioid use disorder: the date and time of the last use.")
    if name == "use_disorders" and message.startswith(("Required", "Name at least")):
        return N_("Choose what the referral is for: alcohol use disorder, opioid use disorder, or both.")
    if name == "consent" and "(expires_on" in message:
        return N_("Give the date the consent ends.")
    return message


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for cancelling"),
        validators=[Optional(), Length(max=2000, message=_l("Keep the reason to %(n)s characters.", n=2000))],
        description=_l("Shown on the timeline and to the centers whose offers are withdrawn."),
    )


class RevokeConsentForm(FlaskForm):
    """ "The person revoked consent": nothing to fill in but the CSRF token."""


CALL_OUTCOME_LABELS = {
    "accepted": _l("Accepted: the center takes the person"),
    "declined": _l("Declined"),
    "no_answer": _l("No answer"),
}


class CallForm(FlaskForm):
    """What a center said on the phone; its `target` choices are the referral's centers to call."""

    target = SelectField(_l("Center called"))
    outcome = CodeRadios(_l("What the center said"), choices=choices(CALL_OUTCOME_LABELS))
    admission_date = DateField(
        _l("Admission date"),
        validators=[Optional()],
        description=_l("If accepted: the day the person can come in (YYYY-MM-DD)."),
    )
    reason = TextAreaField(
        _l("Reason for declining"),
        validators=[Optional(), Length(max=1900, message=_l("Keep the reason to %(n)s characters.", n=1900))],
        description=_l("If declined: what the center said, e.g. no bed until next week."),
    )

    def validate(self, extra_validators: Any = None) -> bool:
        """The field checks, then what each outcome needs: an admission date, or a reason."""
        valid = super().validate(extra_validators)
        if self.outcome.data not in CALL_OUTCOME_LABELS:
            self.outcome.errors = [*self.outcome.errors, _("Choose what the center said.")]
            valid = False
        if self.outcome.data == "accepted" and self.admission_date.data is None and not self.admission_date.errors:
            self.admission_date.errors = [*self.admission_date.errors, _("Give the admission date (YYYY-MM-DD).")]
            valid = False
        if self.outcome.data == "declined" and not (self.reason.data or "").strip():
            self.reason.errors = [*self.reason.errors, _("Give the reason the center gave for declining.")]
            valid = False
        return valid
