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
- A referral is for alcohol use disorder, opioid use disorder, or both. Naltrexone treats both,
  and needs the person opioid-free either way: for alcohol alone the intake asks about opioid use
  in the last 10 days; "yes" or "unknown" applies the opioid window from the last use given, or,
  with no date known, flags the plan for a clinician to confirm the person is opioid-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from directory.translatable import N_, LocalDate, Message

SHORT_ACTING_OPIOIDS = ("heroin", "oxycodone", "hydrocodone", "morphine")
LONG_ACTING_OPIOIDS = ("methadone", "buprenorphine")
PRIMARY_OPIOIDS = (*SHORT_ACTING_OPIOIDS, *LONG_ACTING_OPIOIDS, "fentanyl", "other", "unknown")

#: How the plan names the kind of opioid behind each window ("short-acting opioid" for the rest).
OPIOID_KINDS = {
    "methadone": N_("long-acting opioid"),
    "buprenorphine": N_("long-acting opioid"),
    "fentanyl": N_("fentanyl"),
    "other": N_("other opioid"),
    "unknown": N_("opioid not known"),
}

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
USE_DISORDERS = ("alcohol", "opioids")
#: The answers to "any opioid use in the last 10 days?", asked when the referral is for alcohol alone.
RECENT_OPIOID_USE_ANSWERS = ("yes", "no", "unknown")

#: Used for the expected discharge when a detox center has not said how long its stays are.
DEFAULT_DETOX_STAY_DAYS = 5

FLAG_LIVER_TESTS = "baseline_liver_tests_required"
#: On every plan involving opioids: tolerance falls during detox and on naltrexone, so a return to
#: the old dose can be fatal; discharge should include naloxone and overdose education.
FLAG_OVERDOSE_RISK = "overdose_risk_after_detox"
#: Opioids may have been used in the last 10 days, and when is not known: no opioid-free window can be
#: counted, so a clinician confirms the person is opioid-free before naltrexone starts.
FLAG_CONFIRM_OPIOID_FREE = "confirm_opioid_free_before_naltrexone"
REVIEW_PAIN_THERAPY = N_(
    "Needs opioid pain medication: naltrexone blocks opioids and cannot be used. "
    "A clinician should review this referral."
)


def opioid_free_window_days(primary_opioid: str) -> int:
    """Days opioid-free before naltrexone may start: 7 after short-acting opioids, else 10."""
    if primary_opioid not in PRIMARY_OPIOIDS:
        raise ValueError(f"unknown opioid {primary_opioid!r}; accepted: {', '.join(PRIMARY_OPIOIDS)}")
    return SHORT_ACTING_WINDOW_DAYS if primary_opioid in SHORT_ACTING_OPIOIDS else LONG_WINDOW_DAYS


def earliest_naltrexone_start(last_opioid_use: datetime, primary_opioid: str, zone: tzinfo = UTC) -> date:
    """The first day naltrexone may start, in the referrer's time zone: the last use plus the opioid-free window.

    Counted in elapsed hours from the moment of last use (naive means UTC), then rounded up to the
    next whole day where the referrer is, so the window is never shortened, across a change of the
    clocks too (last use Monday 22:00 + 7 days = the following Monday 22:00 -> Tuesday).
    """
    ready = (_as_utc(last_opioid_use) + timedelta(days=opioid_free_window_days(primary_opioid))).astimezone(zone)
    midnight = datetime.combine(ready.date(), time.min, tzinfo=zone)
    return ready.date() if ready == midnight else ready.date() + timedelta(days=1)


def explain_earliest_start(last_opioid_use: datetime, primary_opioid: str, zone: tzinfo = UTC) -> Message:
    """The earliest naltrexone start with its reason, in the referrer's time zone, e.g.
    "Last opioid use 5 Dec 07:51 + 7 days (short-acting opioid): from 13 Dec" (a page shows it in the
    person's language)."""
    days = opioid_free_window_days(primary_opioid)
    kind = N_("short-acting opioid") if primary_opioid in SHORT_ACTING_OPIOIDS else OPIOID_KINDS[primary_opioid]
    used = _as_utc(last_opioid_use).astimezone(zone)
    start = earliest_naltrexone_start(last_opioid_use, primary_opioid, zone)
    return Message(
        N_("Last opioid use %(used_on)s %(used_at)s + %(days)s days (%(kind)s): from %(start)s"),
        used_on=LocalDate(used.date(), "short"),
        used_at=f"{used:%H:%M}",
        days=days,
        kind=Message(kind),
        start=LocalDate(start, "short"),
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class ClinicalFacts:
    """What the intake says that the rules need (no names, no dates of birth)."""

    primary_opioid: str | None
    last_opioid_use: datetime | None
    liver_disease: str
    on_opioid_pain_therapy: bool
    interacting_medications: tuple[str, ...] = ()
    alcohol_use_disorder: bool = False
    opioid_use_disorder: bool = True
    #: Alcohol alone: any opioid use in the last 10 days ("yes", "no" or "unknown").
    recent_opioid_use: str | None = None
    #: The referrer's time zone: the day naltrexone may start is a day where they are.
    zone: tzinfo = UTC

    @property
    def involves_opioids(self) -> bool:
        """Opioid use disorder, or opioid use in the last 10 days that is not ruled out."""
        return self.opioid_use_disorder or self.recent_opioid_use in ("yes", "unknown")

    @property
    def opioid_window_kind(self) -> str:
        """The opioid whose window applies: the primary opioid, "unknown" if none was named."""
        return self.primary_opioid or "unknown"


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
    start = None
    if facts.involves_opioids:
        flags.append(FLAG_OVERDOSE_RISK)
        if facts.last_opioid_use is None:
            flags.append(FLAG_CONFIRM_OPIOID_FREE)
        else:
            start = earliest_naltrexone_start(facts.last_opioid_use, facts.opioid_window_kind, facts.zone)
    if facts.on_opioid_pain_therapy:
        return Assessment(False, REVIEW_PAIN_THERAPY, None, tuple(flags))
    return Assessment(True, None, start, tuple(flags))


def target_naltrexone_start(earliest_start: date | None, detox_admission: date, detox_stay_days: int | None) -> date:
    """When the naltrexone program should plan to start: opioid-free (no window when `earliest_start` is
    None) and discharged from detox."""
    discharge = detox_admission + timedelta(days=detox_stay_days or DEFAULT_DETOX_STAY_DAYS)
    return max(earliest_start, discharge) if earliest_start else discharge
