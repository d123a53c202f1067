"""Forms of the referral staff pages. The intake form's values are checked by
`directory.referrals.intake.validate_intake`, the same checks the API makes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

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

from directory.public.forms import choices
from directory.referrals.intake import DEFAULT_MAX_DISTANCE_MILES, IntakeInvalid, time_zone_names
from directory.routing.rules import (
    INTERACTING_MEDICATIONS,
    PRIMARY_OPIOIDS,
    RECENT_OPIOID_USE_ANSWERS,
    USE_DISORDERS,
)
from directory.vocabulary import LANGUAGES, PAYMENT_OPTIONS, POPULATIONS

SITE_NAME = "Treatment Directory"
CONSENT_DAYS = 180

OPIOID_LABELS: dict[str, str] = {
    "heroin": "Heroin",
    "oxycodone": "Oxycodone",
    "hydrocodone": "Hydrocodone",
    "morphine": "Morphine",
    "methadone": "Methadone",
    "buprenorphine": "Buprenorphine",
    "fentanyl": "Fentanyl",
    "other": "Another opioid",
    "unknown": "Not known",
}
assert tuple(OPIOID_LABELS) == PRIMARY_OPIOIDS

INTERACTING_MEDICATION_LABELS: dict[str, str] = {
    "other_opioids": "Other opioids",
    "alcohol": "Alcohol",
    "tranquilizers": "Tranquilizers",
    "sedatives": "Sedatives",
    "cold_and_cough_medicines": "Cold and cough medicines",
    "antidiarrheal_medicines": "Antidiarrheal medicines",
    "disulfiram": "Disulfiram",
    "thioridazine": "Thioridazine",
}
assert tuple(INTERACTING_MEDICATION_LABELS) == INTERACTING_MEDICATIONS

LIVER_DISEASE_LABELS = {"yes": "Yes", "no": "No", "unknown": "Not known"}
USE_DISORDER_LABELS = {"alcohol": "Alcohol use disorder", "opioids": "Opioid use disorder"}
assert tuple(USE_DISORDER_LABELS) == USE_DISORDERS
RECENT_OPIOID_USE_LABELS = {"yes": "Yes", "no": "No", "unknown": "Not known"}
assert tuple(RECENT_OPIOID_USE_LABELS) == RECENT_OPIOID_USE_ANSWERS

#: The intake form's time zone without JavaScript (with it, the browser's own zone is chosen).
FORM_TIME_ZONE = "America/New_York"
#: The zones of the states and territories, first in the list; every other IANA zone follows.
US_TIME_ZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico", "Pacific/Guam", "Pacific/Pago_Pago",
)  # fmt: skip


def time_zone_choices() -> dict[str, list[tuple[str, str]]]:
    """The time zone select's options, in two groups: the US zones, then all others A to Z."""
    others = sorted(time_zone_names() - set(US_TIME_ZONES))
    return {
        "United States": [(zone, zone.replace("_", " ")) for zone in US_TIME_ZONES],
        "Everywhere": [(zone, zone.replace("_", " ")) for zone in others],
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

    client_reference = StringField("Client reference", description="Your own case number — not the person's name.")
    contact_phone = StringField(
        "Contact phone (optional)", description="Where the receiving center can reach the person or you."
    )
    location = StringField(
        "Where the person is", description='A ZIP code, "City, ST" (e.g. Chicago, IL) or "latitude,longitude".'
    )
    max_distance_miles = StringField("Farthest distance (miles)", description="1 to 500 miles.")
    payment = CodeSelect("Payment", choices=choices({"": "Choose how the person pays", **PAYMENT_OPTIONS}))
    use_disorders = CodeCheckboxes("The referral is for", choices=choices(USE_DISORDER_LABELS))
    recent_opioid_use = CodeRadios(
        "Alcohol alone: any opioid use in the last 10 days?",
        choices=choices(RECENT_OPIOID_USE_LABELS),
        description="Naltrexone needs the person opioid-free. If yes or not known, give the last use below if known.",
    )
    primary_opioid = CodeSelect(
        "Primary opioid",
        choices=choices({"": "Choose the opioid", **OPIOID_LABELS}),
        description="Required for opioid use disorder.",
    )
    last_opioid_use = StringField(
        "Last opioid use",
        description="Required for opioid use disorder. Date and time of the last use, as a clock in the time zone "
        "below showed it.",
    )
    time_zone = CodeSelect(
        "Time zone", description="Your browser's, when it says; change it if the time above is another zone's."
    )
    liver_disease = CodeRadios("Liver disease", choices=choices(LIVER_DISEASE_LABELS))
    on_opioid_pain_therapy = CodeRadios("Needs opioid pain medication", choices=choices({"yes": "Yes", "no": "No"}))
    interacting_medications = CodeCheckboxes(
        "Takes or uses (interacts with naltrexone)", choices=choices(INTERACTING_MEDICATION_LABELS)
    )
    language = CodeSelect("Language (optional)", choices=choices({"": "English", **LANGUAGES}))
    populations = CodeCheckboxes("Needs a program for (optional)", choices=choices(POPULATIONS))
    consent_granted = BooleanField("The person consents to share this referral with receiving treatment centers")
    consent_recipients = TextAreaField("Who may receive it")
    consent_purpose = TextAreaField("For what purpose")
    consent_expires_on = StringField("Consent ends on", description="The last day the person's consent covers.")

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
                "consent_recipients": f"Treatment centers offered this referral through {SITE_NAME}",
                "consent_purpose": "Referral for substance use treatment",
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
                field.errors = [*field.errors, _for_the_form(name, message)]

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
    "payment": "Choose how the person pays.",
    "primary_opioid": "Choose the primary opioid (required for opioid use disorder).",
    "recent_opioid_use": "Choose whether the person used opioids in the last 10 days: yes, no or not known "
    "(asked when the referral is for alcohol alone).",
    "liver_disease": "Choose whether the person has liver disease: yes, no or not known.",
    "on_opioid_pain_therapy": "Choose whether the person needs opioid pain medication: yes or no.",
}


def _for_the_form(name: str, message: str) -> str:
    """The API's wording of a few messages, in the form's terms."""
    if name in CHOOSE and (message.startswith("Required") or message.startswith("Unknown value ''")):
        return CHOOSE[name]
    if name == "last_opioid_use" and message.startswith("Required"):
        return "Required for opioid use disorder: the date and time of the last use."
    if name == "use_disorders" and message.startswith(("Required", "Name at least")):
        return "Choose what the referral is for: alcohol use disorder, opioid use disorder, or both."
    if name == "consent" and "(expires_on" in message:
        return "Give the date the consent ends."
    return message


class CancelForm(FlaskForm):
    reason = TextAreaField(
        "Reason for cancelling",
        validators=[Optional(), Length(max=2000, message="Keep the reason to 2000 characters.")],
        description="Shown on the timeline and to the centers whose offers are withdrawn.",
    )


class RevokeConsentForm(FlaskForm):
    """ "The person revoked consent": nothing to fill in but the CSRF token."""


CALL_OUTCOME_LABELS = {
    "accepted": "Accepted: the center takes the person",
    "declined": "Declined",
    "no_answer": "No answer",
}


class CallForm(FlaskForm):
    """What a center said on the phone; its `target` choices are the referral's centers to call."""

    target = SelectField("Center called")
    outcome = CodeRadios("What the center said", choices=choices(CALL_OUTCOME_LABELS))
    admission_date = DateField(
        "Admission date",
        validators=[Optional()],
        description="If accepted: the day the person can come in (YYYY-MM-DD).",
    )
    reason = TextAreaField(
        "Reason for declining",
        validators=[Optional(), Length(max=1900, message="Keep the reason to 1900 characters.")],
        description="If declined: what the center said, e.g. no bed until next week.",
    )

    def validate(self, extra_validators: Any = None) -> bool:
        """The field checks, then what each outcome needs: an admission date, or a reason."""
        valid = super().validate(extra_validators)
        if self.outcome.data not in CALL_OUTCOME_LABELS:
            self.outcome.errors = [*self.outcome.errors, "Choose what the center said."]
            valid = False
        if self.outcome.data == "accepted" and self.admission_date.data is None and not self.admission_date.errors:
            self.admission_date.errors = [*self.admission_date.errors, "Give the admission date (YYYY-MM-DD)."]
            valid = False
        if self.outcome.data == "declined" and not (self.reason.data or "").strip():
            self.reason.errors = [*self.reason.errors, "Give the reason the center gave for declining."]
            valid = False
        return valid
