"""Referral outcomes: how long referrals wait for a first offer, a first answer, an acceptance and
admission; how many are made each week and how each ended; why centers decline; where the
unplaced ones are.

Plain data from a session, a scope (everyone's referrals, or one sender's) and a clock, for the
outcomes page, its CSV and /metrics. Aggregates only: no referral's reference, phone or place
leaves this module (a place is reduced to its state). Weeks are ISO weeks in UTC, the zone every
timestamp is stored in.

The times, from the referral's submission:
- first offer: its first offer was made;
- first answer: a center first accepted or declined one of its offers (an expiry is no answer);
- acceptance: a detox center accepted it (the first step of the pathway; the naltrexone step is
  offered only after that), kept when the offer later turns admitted, no-show or completed;
- admission: the admission date that center gave, in whole days after the day of submission.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, Integer, Subquery, case, cast, extract, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from directory.models import Offer, OfferStatus, Referral, ReferralStatus
from directory.search.geocoding import state_of_point
from directory.translatable import N_

#: Weeks the page and the CSV cover: the current ISO week and the ones before it.
WEEKS = 12
#: The times measured, in the order shown; the first three in seconds, admission in days.
MEASURES = ("first_offer", "first_answer", "acceptance", "admission")
SECONDS_MEASURES = MEASURES[:3]

#: An offer a center accepted, whatever happened to it after.
ACCEPTED_ONCE = tuple(
    s.value for s in (OfferStatus.ACCEPTED, OfferStatus.ADMITTED, OfferStatus.NO_SHOW, OfferStatus.COMPLETED)
)
#: An offer a center answered (accepted or declined), whatever happened to it after.
ANSWERED = (*ACCEPTED_ONCE, OfferStatus.DECLINED.value)

#: Each referral status's outcome (but see `ReferralTimes.outcome`), and the outcomes in the order shown.
OUTCOME_OF_STATUS = {
    ReferralStatus.ACCEPTED: "placed",
    ReferralStatus.IN_PROGRESS: "placed",
    ReferralStatus.COMPLETED: "placed",
    ReferralStatus.RECEIVED: "open",
    ReferralStatus.ROUTING: "open",
    ReferralStatus.OFFERED: "open",
    ReferralStatus.UNPLACED: "unplaced",
    ReferralStatus.NEEDS_REVIEW: "needs_review",
    ReferralStatus.CANCELLED: "cancelled",
}
OUTCOMES = ("placed", "open", "unplaced", "needs_review", "cancelled")

#: The bins of the distribution of time to acceptance: upper bounds in seconds, the last open.
ACCEPTANCE_BINS = (15 * 60, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, math.inf)

#: A decline reason is named only when given this many times in the weeks covered: a reason typed
#: once or twice may describe one person; the rarer ones are counted together as OTHER_REASONS.
MIN_NAMED_DECLINES = 3
OTHER_REASONS = N_("Other reasons")
UNKNOWN_STATE = N_("Unknown")
#: What a decline recorded by phone carries after the reason the center gave.
_BY_PHONE = re.compile(r"\s*\(by phone\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ReferralTimes:
    """One referral's moments: when it was made and when each first event happened."""

    created_at: datetime
    status: str
    latitude: float
    longitude: float
    first_offer_at: datetime | None
    first_answer_at: datetime | None
    accepted_at: datetime | None
    admission_date: date | None

    @property
    def outcome(self) -> str:
        """How it ended so far, one of OUTCOMES: placed once a detox center accepted, even if no
        naltrexone program did after (the referral is then `unplaced`, the detox placement standing)."""
        if self.status == ReferralStatus.UNPLACED and self.accepted_at is not None:
            return "placed"
        return OUTCOME_OF_STATUS.get(self.status, "open")  # type: ignore[call-overload]

    def took(self, measure: str) -> tuple[datetime, float] | None:
        """When the measure's event happened and how long after submission (seconds; admission: days),
        or None if it has not happened."""
        if measure == "admission":
            if self.accepted_at is None or self.admission_date is None:
                return None
            return self.accepted_at, float((self.admission_date - self.created_at.date()).days)
        moment = {"first_offer": self.first_offer_at, "first_answer": self.first_answer_at,
                  "acceptance": self.accepted_at}[measure]  # fmt: skip
        return None if moment is None else (moment, (moment - self.created_at).total_seconds())


def _firsts() -> Subquery:
    """Per referral with offers: its first offer, first answer, and detox acceptance with its admission date."""
    answered = Offer.status.in_(ANSWERED)
    accepted_detox = Offer.status.in_(ACCEPTED_ONCE) & (Offer.step == "detox")
    return (
        select(
            Offer.referral_id,
            func.min(Offer.created_at).label("first_offer_at"),
            func.min(case((answered, Offer.responded_at))).label("first_answer_at"),
            func.min(case((accepted_detox, Offer.responded_at))).label("accepted_at"),
            func.min(case((accepted_detox, Offer.admission_date))).label("admission_date"),
        )
        .group_by(Offer.referral_id)
        .subquery()
    )


def referral_times(session: Session | Connection, *, sender_id: int | None = None,
                   since: datetime | None = None) -> list[ReferralTimes]:  # fmt: skip
    """Each referral's times (with `sender_id`, only that sender's; with `since`, only referrals made
    or with an offer made or answered since then), in one query."""
    firsts = _firsts()
    stmt = select(
        Referral.created_at, Referral.status, Referral.latitude, Referral.longitude, firsts.c.first_offer_at,
        firsts.c.first_answer_at, firsts.c.accepted_at, firsts.c.admission_date,
    ).outerjoin(firsts, firsts.c.referral_id == Referral.id)  # fmt: skip
    if sender_id is not None:
        stmt = stmt.where(Referral.created_by_id == sender_id)
    if since is not None:
        touched = select(Offer.referral_id).where(or_(Offer.created_at >= since, Offer.responded_at >= since))
        stmt = stmt.where(or_(Referral.created_at >= since, Referral.id.in_(touched)))
    return [ReferralTimes(*row) for row in session.execute(stmt)]


@dataclass(frozen=True)
class Histogram:
    """How many values are at most each bound (cumulative, as Prometheus reads them), how many in all, their sum."""

    bounds: tuple[float, ...]
    at_most: list[int]
    count: int
    total: float


def duration_histograms(session: Session | Connection, bounds: dict[str, tuple[float, ...]]) -> dict[str, Histogram]:
    """Every referral's time to each measure that has happened, counted under each of the measure's
    bounds (seconds; admission: days), by the database in one statement (for /metrics, at each scrape)."""
    dialect = session.get_bind().dialect.name if isinstance(session, Session) else session.dialect.name
    firsts = _firsts()
    made = Referral.created_at
    # Each referral's times computed once (a materialized CTE), then counted by the bucket each falls in.
    times = (
        select(
            _seconds_between(made, firsts.c.first_offer_at, dialect).label("first_offer"),
            _seconds_between(made, firsts.c.first_answer_at, dialect).label("first_answer"),
            _seconds_between(made, firsts.c.accepted_at, dialect).label("acceptance"),
            _days_between(made, firsts.c.admission_date, dialect).label("admission"),
        )
        .select_from(firsts)
        .join(Referral, Referral.id == firsts.c.referral_id)
        .cte("referral_times")
        .prefix_with("MATERIALIZED")
    )
    counted = []
    for measure in MEASURES:
        value = times.c[measure]
        bucket = case(*[(value <= bound, n) for n, bound in enumerate(bounds[measure])], else_=len(bounds[measure]))
        counted.append(
            select(literal(measure), bucket, func.count(), func.sum(value)).where(value.is_not(None)).group_by(bucket)
        )
    at_most = {measure: [0] * len(bounds[measure]) for measure in MEASURES}
    counts, totals = dict.fromkeys(MEASURES, 0), dict.fromkeys(MEASURES, 0.0)
    for measure, bucket_index, count, total in session.execute(union_all(*counted)):
        for n in range(bucket_index, len(bounds[measure])):
            at_most[measure][n] += count
        counts[measure] += count
        totals[measure] += float(total)
    return {
        measure: Histogram(bounds[measure], at_most[measure], counts[measure], totals[measure]) for measure in MEASURES
    }


def _seconds_between(start: Any, end: Any, dialect: str) -> Any:
    """Whole seconds (PostgreSQL: to the microsecond) from `start` to `end`, as SQL; NULL if either is."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", end), Integer) - cast(func.strftime("%s", start), Integer)
    return extract("epoch", end - start)


def _days_between(moment: Any, day: Any, dialect: str) -> Any:
    """Days from the day of `moment` to `day`, as SQL; NULL if either is."""
    if dialect == "sqlite":
        return func.julianday(day) - func.julianday(func.date(moment))
    return day - cast(moment, Date)


def iso_week(moment: date) -> str:
    """The ISO week of a day or a time, e.g. "2026-W49"."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def week_starts(now: datetime, weeks: int = WEEKS) -> list[date]:
    """The Monday of each of the last `weeks` ISO weeks, oldest first, the current one last."""
    monday = now.date() - timedelta(days=now.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


@dataclass(frozen=True)
class Summary:
    """How many referrals a measure happened to, and its median and 90th percentile."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        if not values:
            return cls(0, None, None)
        ordered = sorted(values)
        return cls(len(ordered), statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass(frozen=True)
class Outcomes:
    """The figures of the weeks covered, by ISO week (oldest first, the current one last).

    Volume and unplaced referrals count by the week a referral was made; times by the week their
    event happened (acceptance: the week of the yes; admission: also that week); declines by the
    week of the decline.
    """

    now: datetime
    weeks: list[str]
    volume: dict[str, Counter[str]]  # week -> outcome -> referrals made that week
    durations: dict[str, dict[str, list[float]]]  # measure -> week -> times of the events that week
    declines: dict[str, Counter[str]]  # week -> reason (named, or OTHER_REASONS) -> declines
    unplaced: dict[str, Counter[str]]  # week -> state (or UNKNOWN_STATE) -> referrals not placed

    @property
    def this_week(self) -> str:
        return self.weeks[-1]

    @property
    def last_week(self) -> str:
        return self.weeks[-2]

    def summary(self, measure: str, week: str | None = None) -> Summary:
        """The measure over one week, or over all the weeks covered."""
        by_week = self.durations[measure]
        return Summary.of(by_week.get(week, []) if week else [v for w in self.weeks for v in by_week.get(w, [])])

    def acceptance_distribution(self, week: str) -> list[int]:
        """How many acceptances of the week fell in each of ACCEPTANCE_BINS."""
        counts = [0] * len(ACCEPTANCE_BINS)
        for seconds in self.durations["acceptance"].get(week, []):
            counts[next(n for n, bound in enumerate(ACCEPTANCE_BINS) if seconds <= bound)] += 1
        return counts

    def volume_totals(self) -> Counter[str]:
        return sum(self.volume.values(), Counter())

    def decline_totals(self) -> list[tuple[str, int]]:
        """Reasons over all the weeks covered, the most common first, OTHER_REASONS last."""
        totals = sum(self.declines.values(), Counter())
        other = totals.pop(OTHER_REASONS, 0)
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        return ranked + ([(OTHER_REASONS, other)] if other else [])

    def unplaced_totals(self) -> list[tuple[str, int]]:
        """States over all the weeks covered, the most unplaced referrals first, UNKNOWN_STATE last."""
        totals = sum(self.unplaced.values(), Counter())
        unknown = totals.pop(UNKNOWN_STATE, 0)
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        return ranked + ([(UNKNOWN_STATE, unknown)] if unknown else [])

    def rows(self) -> list[tuple[str, str, str, float | int]]:
        """Every figure as (week, metric, group, value): the CSV's rows, week by week."""
        rows: list[tuple[str, str, str, float | int]] = []
        for week in self.weeks:
            for outcome in OUTCOMES:
                rows.append((week, "referrals_made", outcome, self.volume[week][outcome]))
            for measure in MEASURES:
                unit = "days" if measure == "admission" else "minutes"
                summary = self.summary(measure, week)
                rows.append((week, f"time_to_{measure}_{unit}", "count", summary.count))
                for name, value in (("median", summary.median), ("p90", summary.p90)):
                    if value is not None:
                        rows.append((week, f"time_to_{measure}_{unit}", name, _in_unit(value, unit)))
            for reason, count in sorted(self.declines[week].items()):
                rows.append((week, "declines", reason, count))
            for state, count in sorted(self.unplaced[week].items()):
                rows.append((week, "unplaced_referrals", state, count))
        return rows


def _in_unit(value: float, unit: str) -> float:
    return round(value / 60, 1) if unit == "minutes" else round(value, 1)


def referral_outcomes(session: Session, now: datetime, *, sender_id: int | None = None, weeks: int = WEEKS) -> Outcomes:
    """The figures of the last `weeks` ISO weeks up to `now`: everyone's referrals, or with `sender_id`
    only that sender's."""
    starts = week_starts(now, weeks)
    since = datetime.combine(starts[0], datetime.min.time())
    names = [iso_week(start) for start in starts]
    covered = set(names)
    volume: dict[str, Counter[str]] = {week: Counter() for week in names}
    unplaced: dict[str, Counter[str]] = {week: Counter() for week in names}
    durations: dict[str, dict[str, list[float]]] = {measure: defaultdict(list) for measure in MEASURES}
    for times in referral_times(session, sender_id=sender_id, since=since):
        week = iso_week(times.created_at)
        if week in covered:
            volume[week][times.outcome] += 1
            if times.outcome == "unplaced":
                unplaced[week][state_of_point(times.latitude, times.longitude) or UNKNOWN_STATE] += 1
        for measure in MEASURES:
            took = times.took(measure)
            if took is not None and iso_week(took[0]) in covered:
                durations[measure][iso_week(took[0])].append(took[1])
    declines = _declines_by_week(session, since, sender_id, names)
    return Outcomes(now, names, volume, {m: dict(d) for m, d in durations.items()}, declines, unplaced)


def _declines_by_week(session: Session, since: datetime, sender_id: int | None,
                      weeks: list[str]) -> dict[str, Counter[str]]:  # fmt: skip
    """Declines since `since` by week and reason (labelled as first written), reasons given fewer than
    MIN_NAMED_DECLINES times counted as OTHER_REASONS."""
    stmt = (
        select(Offer.responded_at, Offer.decline_reason)
        .where(Offer.status == OfferStatus.DECLINED.value, Offer.responded_at >= since)
        .order_by(Offer.responded_at, Offer.id)  # a reason is labelled as first written
    )
    if sender_id is not None:
        stmt = stmt.join(Referral, Referral.id == Offer.referral_id).where(Referral.created_by_id == sender_id)
    declined = [(iso_week(at), reason_key(reason or "")) for at, reason in session.execute(stmt)]
    labels: dict[str, str] = {}
    for _, (key, label) in declined:
        labels.setdefault(key, label)
    counts = Counter(key for _, (key, _) in declined)
    by_week: dict[str, Counter[str]] = {week: Counter() for week in weeks}
    for week, (key, _) in declined:
        if week in by_week:
            by_week[week][labels[key] if counts[key] >= MIN_NAMED_DECLINES else OTHER_REASONS] += 1
    return by_week


def reason_key(reason: str) -> tuple[str, str]:
    """A decline reason's grouping key (case, spacing, a final full stop and "(by phone)" ignored) and
    its label (the reason as written, first letter capitalized, at most 80 characters)."""
    text = " ".join(_BY_PHONE.sub("", reason).split()).rstrip(".").strip() or "No reason given"
    label = text[:1].upper() + text[1:]
    return text.casefold(), label if len(label) <= 80 else label[:79].rstrip() + "…"
