"""Clinical rules the router must respect, as plain functions over plain data.

The plan these rules produce is a proposal for the receiving clinicians, not medical
advice. The facts encoded here:

- Naltrexone blocks opioid receptors; started while opioids are still in the body it
  brings on sudden, severe withdrawal. The person must first be opioid-free: 7 days after
  a short-acting opioid (heroin, oxycodone, hydrocodone, morphine), 10 days after a
  long-acting one (methadone, buprenorphine), after fentanyl (it lingers in the body), or
  when the opioid is other or unknown.
- Medical detox comes first, because withdrawal must be monitored; naltrexone is not
  started during detox.
- Naltrexone can harm the liver: known or unknown liver disease calls for baseline liver tests.
- A person who needs opioid pain medication cannot take naltrexone: such a referral needs
  review by a person instead of routing.
- Medicines that interact (named by clinicians) are flagged for the receiving clinician.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

SHORT_ACTING_OPIOIDS = ("heroin", "oxycodone", "hydrocodone", "morphine")
LONG_ACTING_OPIOIDS = ("methadone", "buprenorphine")
PRIMARY_OPIOIDS = (*SHORT_ACTING_OPIOIDS, *LONG_ACTING_OPIOIDS, "fentanyl", "other", "unknown")

SHORT_ACTING_WINDOW_DAYS = 7
#: Long-acting opioids, fentanyl, and other or unknown opioids.
LONG_WINDOW_DAYS = 10

INTERACTING_MEDICATIONS = (
    "other_opioids",
    "alcohol",
    "tranquilizers",
    "sedatives",
    "cold_and_cough_medicines",
    "antidiarrheal_medicines",
    "disulfiram",
    "thioridazine",
)

LIVER_DISEASE_ANSWERS = ("yes", "no", "unknown")

#: Used for the expected discharge when a detox center has not said how long its stays are.
DEFAULT_DETOX_STAY_DAYS = 5

FLAG_LIVER_TESTS = "baseline_liver_tests_required"
REVIEW_PAIN_THERAPY = (
    "Needs opioid pain medication: naltrexone blocks opioids and cannot be used. "
    "A clinician should review this referral."
)


def opioid_free_window_days(primary_opioid: str) -> int:
    """Days opioid-free before naltrexone may start: 7 after short-acting opioids, else 10."""
    if primary_opioid not in PRIMARY_OPIOIDS:
        raise ValueError(f"unknown opioid {primary_opioid!r}; accepted: {', '.join(PRIMARY_OPIOIDS)}")
    return SHORT_ACTING_WINDOW_DAYS if primary_opioid in SHORT_ACTING_OPIOIDS else LONG_WINDOW_DAYS


def earliest_naltrexone_start(last_opioid_use: datetime, primary_opioid: str) -> date:
    """The first day naltrexone may start: the last use plus the opioid-free window.

    Counted from the moment of last use and rounded up to the next whole day, so the window
    is never shortened (last use Monday 22:00 + 7 days = the following Monday 22:00 -> Tuesday).
    """
    ready = last_opioid_use + timedelta(days=opioid_free_window_days(primary_opioid))
    midnight = datetime.combine(ready.date(), datetime.min.time(), tzinfo=ready.tzinfo)
    return ready.date() if ready == midnight else ready.date() + timedelta(days=1)


@dataclass(frozen=True)
class ClinicalFacts:
    """What the intake says that the rules need (no names, no dates of birth)."""

    primary_opioid: str
    last_opioid_use: datetime
    liver_disease: str
    on_opioid_pain_therapy: bool
    interacting_medications: tuple[str, ...] = ()
    alcohol_use_disorder: bool = False


@dataclass(frozen=True)
class Assessment:
    """Whether to route, why not if not, the naltrexone start date and the flags for clinicians."""

    routable: bool
    review_reason: str | None
    earliest_start: date | None
    flags: tuple[str, ...] = field(default_factory=tuple)


def assess(facts: ClinicalFacts) -> Assessment:
    """Apply the clinical rules to one intake."""
    flags: list[str] = []
    if facts.liver_disease in ("yes", "unknown"):
        flags.append(FLAG_LIVER_TESTS)
    for name in INTERACTING_MEDICATIONS:
        if name in facts.interacting_medications:
            flags.append(f"interaction:{name}")
    if facts.on_opioid_pain_therapy:
        return Assessment(False, REVIEW_PAIN_THERAPY, None, tuple(flags))
    start = earliest_naltrexone_start(facts.last_opioid_use, facts.primary_opioid)
    return Assessment(True, None, start, tuple(flags))


def target_naltrexone_start(earliest_start: date, detox_admission: date, detox_stay_days: int | None) -> date:
    """When the naltrexone program should plan to start: opioid-free and discharged from detox."""
    discharge = detox_admission + timedelta(days=detox_stay_days or DEFAULT_DETOX_STAY_DAYS)
    return max(earliest_start, discharge)
