"""Which centers can take each step of the pathway, and in what order to offer them.

Detox step: centers offering medical detox, not saying they are closed to referrals, taking
the person's payment, within the distance limit, not reporting zero beds. Naltrexone step:
programs offering naltrexone (oral or injectable) that take the payment, near the person's home.

Order, deterministic and explained on the plan: for detox of a referral naming alcohol, centers
whose detox covers every substance the referral is for (alcohol; alcohol and opioids for both)
first, then those that list no detox substances (call to confirm), then those that list others;
then centers that say they are accepting referrals before those that have not said (imported
listings), then continuity (one center for both steps); for naltrexone, continuity (the
detox center itself), then those that say they are accepting; then nearness in 10-mile bands
(so that, among centers about as near, the following can count), then beds reported available,
a listing the center has confirmed, the person's language, populations served; then exact
distance, name and id. For the naltrexone step, programs that also offer outpatient or
residential treatment (counseling alongside the medication) come before those that do not,
right after continuity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from directory.translatable import N_, Message
from directory.vocabulary import label

DETOX_CODES = frozenset({"medical_detox"})
NALTREXONE_CODES = frozenset({"naltrexone_oral", "naltrexone_injectable"})
#: The codes, by attribute kind, that let a center take a step of the pathway. A center listing
#: none of them is no candidate for any step, nor a partial match: the router need not read it.
STEP_CODES: dict[str, frozenset[str]] = {"levels_of_care": DETOX_CODES, "medications": NALTREXONE_CODES}
#: Levels of care that give counseling and support alongside naltrexone.
SUPPORTING_CARE = frozenset(
    {
        "outpatient",
        "intensive_outpatient",
        "partial_hospitalization",
        "residential",
        "residential_short",
        "residential_long",
    }
)
DISTANCE_BAND_MILES = 10


@dataclass(frozen=True)
class Candidate:
    """A center as the router sees it: plain data, distance from the person already measured."""

    center_id: int
    name: str
    distance_miles: float
    phone: str | None = None
    levels_of_care: frozenset[str] = frozenset()
    detox_substances: frozenset[str] = frozenset()
    payment_options: frozenset[str] = frozenset()
    medications: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    populations: frozenset[str] = frozenset()
    accepting_referrals: bool | None = True  # None: the center has not said
    beds_available: int | None = None
    verified: bool = False
    detox_stay_days: int | None = None

    @property
    def offers_medical_detox(self) -> bool:
        return bool(self.levels_of_care & DETOX_CODES)

    @property
    def offers_naltrexone(self) -> bool:
        return bool(self.medications & NALTREXONE_CODES)

    @property
    def can_take_a_step(self) -> bool:
        return self.offers_medical_detox or self.offers_naltrexone


@dataclass(frozen=True)
class Needs:
    """What the person needs from a center, from the intake."""

    payment: str
    max_distance_miles: float
    language: str | None = None
    populations: tuple[str, ...] = ()
    #: What the detox should cover (`detox_substances` codes); empty: no preference.
    detox_substances: tuple[str, ...] = ()


def preferred_detox_substances(alcohol_use_disorder: bool, opioid_use_disorder: bool) -> tuple[str, ...]:
    """What a referral's detox should cover, when it names alcohol: alcohol, and opioids too for both.
    Empty for opioids alone: their detox ranking has no such preference."""
    if not alcohol_use_disorder:
        return ()
    return ("alcohol", "opioids") if opioid_use_disorder else ("alcohol",)


#: The reason a naltrexone program is there, by the forms it offers. The reasons are stored with the
#: plan in English; they are marked constants, or Messages with values (which the plan keeps, see
#: `directory.referrals.service`), so pages show them translated.
NALTREXONE_FORMS = {
    ("naltrexone_oral",): N_("offers naltrexone (oral)"),
    ("naltrexone_injectable",): N_("offers naltrexone (injectable)"),
    ("naltrexone_oral", "naltrexone_injectable"): N_("offers naltrexone (oral and injectable)"),
}


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    why: tuple[str, ...] = field(default_factory=tuple)


def _common_reasons(c: Candidate, needs: Needs) -> list[str]:
    reasons = [
        Message(N_("%(miles)s miles away"), miles=f"{c.distance_miles:.1f}"),
        Message(N_("takes %(payment)s"), payment=_label("payment_options", needs.payment)),
    ]
    if c.accepting_referrals is None:
        reasons.append(N_("has not said whether it is accepting referrals"))
    if c.beds_available:
        reasons.append(Message(N_("%(beds)s beds reported available"), beds=c.beds_available))
    if c.verified:
        reasons.append(N_("listing confirmed by the center"))
    if needs.language:
        language = _label("languages", needs.language)
        served = N_("serves %(language)s") if needs.language in c.languages else N_("no %(language)s listed")
        reasons.append(Message(served, language=language))
    matched = [p for p in needs.populations if p in c.populations]
    if matched:
        reasons.append(Message(N_("serves %(populations)s"), populations=[_label("populations", p) for p in matched]))
    return reasons


def _label(kind: str, code: str) -> Message:
    """A vocabulary label inside a reason, translated with it."""
    return Message(label(kind, code))


def _fit_key(c: Candidate, needs: Needs) -> tuple:
    beds_rank = 0 if c.beds_available else 1  # reported free beds first, unknown after
    return (
        math.ceil(c.distance_miles / DISTANCE_BAND_MILES),
        beds_rank,
        not c.verified,
        bool(needs.language) and needs.language not in c.languages,
        -sum(p in c.populations for p in needs.populations),
        c.distance_miles,
        c.name,
        c.center_id,
    )


def _basic_fit(c: Candidate, needs: Needs) -> bool:
    return (
        c.accepting_referrals is not False
        and needs.payment in c.payment_options
        and c.distance_miles <= needs.max_distance_miles
    )


def _substances_rank(c: Candidate, needs: Needs) -> int:
    """0: the detox covers every substance needed (or none is asked); 1: it lists none; 2: it lists others."""
    if not needs.detox_substances or set(needs.detox_substances) <= c.detox_substances:
        return 0
    return 1 if not c.detox_substances else 2


#: The detox step's reasons about the substances a referral's detox should cover (constant, so that
#: the plan's stored English reasons translate on pages).
DETOX_COVERS = {
    ("alcohol",): N_("detox covers alcohol"),
    ("alcohol", "opioids"): N_("detox covers alcohol and opioids"),
}
DETOX_DOES_NOT_LIST = {
    ("alcohol",): N_("detox does not list alcohol"),
    ("opioids",): N_("detox does not list opioids"),
    ("alcohol", "opioids"): N_("detox does not list alcohol or opioids"),
}


def _substances_reason(c: Candidate, needs: Needs) -> list[str]:
    wanted = needs.detox_substances
    if not wanted:
        return []
    if not c.detox_substances:
        return [N_("detox substances not listed: call to confirm")]
    missing = [s for s in wanted if s not in c.detox_substances]
    if not missing:
        return [DETOX_COVERS[wanted]]
    return [DETOX_DOES_NOT_LIST[tuple(missing)]]


def rank_detox(candidates: list[Candidate], needs: Needs) -> list[Ranked]:
    """Detox candidates in offer order, each with the reasons it is there."""
    eligible = [c for c in candidates if c.offers_medical_detox and _basic_fit(c, needs) and c.beds_available != 0]
    eligible.sort(
        key=lambda c: (
            _substances_rank(c, needs),
            c.accepting_referrals is None,
            not c.offers_naltrexone,
            *_fit_key(c, needs),
        )
    )
    ranked = []
    for c in eligible:
        why = [N_("offers medical detox"), *_substances_reason(c, needs)]
        if c.offers_naltrexone:
            why.append(N_("also offers naltrexone: one center for both steps"))
        ranked.append(Ranked(c, tuple(why + _common_reasons(c, needs))))
    return ranked


def rank_naltrexone(candidates: list[Candidate], needs: Needs, detox_center_id: int | None = None) -> list[Ranked]:
    """Naltrexone programs in offer order (the detox center itself first, if it offers naltrexone)."""
    eligible = [c for c in candidates if c.offers_naltrexone and _basic_fit(c, needs)]
    eligible.sort(
        key=lambda c: (
            c.center_id != detox_center_id,
            c.accepting_referrals is None,
            not (c.levels_of_care & SUPPORTING_CARE),
            *_fit_key(c, needs),
        )
    )
    ranked = []
    for c in eligible:
        forms = tuple(code for code in ("naltrexone_oral", "naltrexone_injectable") if code in c.medications)
        why = [NALTREXONE_FORMS[forms]]
        if c.center_id == detox_center_id:
            why.append(N_("same center as the detox step"))
        if c.levels_of_care & SUPPORTING_CARE:
            why.append(N_("offers counseling alongside (outpatient or residential)"))
        ranked.append(Ranked(c, tuple(why + _common_reasons(c, needs))))
    return ranked


def partial_matches(candidates: list[Candidate], needs: Needs, limit: int = 5) -> list[Ranked]:
    """The nearest centers that offer detox or naltrexone but miss something, saying what."""
    near = sorted(
        (c for c in candidates if c.can_take_a_step),
        key=lambda c: (c.distance_miles, c.name),
    )
    result = []
    for c in near:
        missing = []
        if c.accepting_referrals is False:
            missing.append(N_("not accepting referrals"))
        if needs.payment not in c.payment_options:
            missing.append(Message(N_("does not list %(payment)s"), payment=_label("payment_options", needs.payment)))
        if c.distance_miles > needs.max_distance_miles:
            missing.append(
                Message(
                    N_("%(miles)s miles away, beyond %(limit)s"),
                    miles=f"{c.distance_miles:.1f}",
                    limit=f"{needs.max_distance_miles:g}",
                )
            )
        if c.beds_available == 0:
            missing.append(N_("no beds available"))
        if missing:
            result.append(Ranked(c, tuple(missing)))
        if len(result) == limit:
            break
    return result
