"""python -m bench placement: referrals placed through the real router and offer functions, in simulated time.

The same referrals, arriving at the same simulated times, are placed twice on fresh copies of the
seed directory: with OFFERS_AT_ONCE=1 and with OFFERS_AT_ONCE=3. Nothing sleeps: an event loop
over a heap of simulated moments calls the service's own functions with `now=` that moment:
`submit_referral` and `route_referral` when a referral arrives, `accept_offer` or `decline_offer`
when a center answers, and beat's sweep (`stop_lapsed_consents`, `expire_offers`,
`remind_open_offers`) at its first 60-second tick after an offer is due a reminder or expires.
Every offer the functions make is read back from the database and given its center's answer
(`Behaviour`), drawn from the random seed, the referral, the center and the step: in both modes a
center answers a given referral the same way, so the modes differ only in how offers are made.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import multiprocessing
import shutil
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench import data
from bench.results import machine_line, wrap, write_section
from bench.routing import make_intakes
from directory import create_app
from directory.accounts.service import create_user
from directory.extensions import db
from directory.models import Offer, OfferStatus, Referral, User
from directory.referrals import dispatch, service
from directory.referrals.intake import Intake

NAME = "placement"
MODES = (1, 3)
#: The issue's goal: the median time to acceptance with three offers at once at least this many
#: times shorter than with one at a time, and no larger share unplaced.
GOAL_MEDIAN_RATIO = 3.0
#: Beat runs the sweep (`tasks.routing.expire_offers`) this often (directory/celery_app.py).
SWEEP_EVERY = timedelta(seconds=60)
#: Mean time between two referrals' arrivals (a Poisson process).
ARRIVAL_EVERY = timedelta(minutes=10)
STEP_NUMBER = {"detox": 1, "naltrexone": 2}
DECLINE_REASONS = ("No bed free this week.", "Does not take this payment.", "Waiting list is full.")


@dataclass(frozen=True)
class Behaviour:
    """How a center answers an offer: with `answer_share` it answers, after a lognormal delay
    (median `median_delay_minutes`, log-scale spread `delay_sigma`), and then accepts with
    `accept_share`, else declines; otherwise it never answers and the offer expires. An answer
    later than the offer's time (about 5% of delays exceed 4 hours) is refused by the service, as
    one in the portal would be."""

    answer_share: float = 0.7
    median_delay_minutes: float = 45.0
    delay_sigma: float = 1.0
    accept_share: float = 0.4

    def answer(self, random_seed: int, referral: int, center_id: int, step: str) -> tuple[bool, timedelta] | None:
        """(accepts, delay) of this center's answer to this referral's offer of the step; None if it never answers."""
        rng = np.random.default_rng([random_seed, referral, center_id, STEP_NUMBER[step]])
        if rng.random() >= self.answer_share:
            return None
        minutes = self.median_delay_minutes * float(np.exp(self.delay_sigma * rng.standard_normal()))
        return bool(rng.random() < self.accept_share), timedelta(minutes=minutes)

    def describe(self) -> str:
        return (
            f"a center answers {self.answer_share:.0%} of offers, after a lognormal delay (median "
            f"{self.median_delay_minutes:g} min, sigma {self.delay_sigma:g}), accepting {self.accept_share:.0%} of "
            f"those and declining the rest; it never answers the other {1 - self.answer_share:.0%}"
        )


@dataclass
class Placement:
    """What one mode's simulation left in its database, and what it saw on the way."""

    at_once: int
    referrals: int
    statuses: dict[str, int]
    minutes_to_acceptance: np.ndarray  # submission to the detox step's acceptance, placed referrals only
    detox_offers_of_placed: int
    unplaced: int  # no detox acceptance, routing gave up (no candidate left, or none at all)
    unplaced_unoffered: int  # of those, never offered to any center: none fits
    minutes_to_naltrexone: np.ndarray  # detox acceptance to the naltrexone step's acceptance
    offers_in_database: int
    offers_seen: int = 0
    answers: int = 0
    refused_answers: int = 0  # answers the service refused: the offer had expired or was withdrawn
    sweeps: int = 0
    seconds: float = 0.0
    arriving_over: timedelta = field(default=timedelta(0))  # first arrival to last
    simulated: timedelta = field(default=timedelta(0))  # first arrival to the last event
    offer_ttl: timedelta = field(default=timedelta(0))
    reminder_after: timedelta = field(default=timedelta(0))

    @property
    def placed(self) -> int:
        return len(self.minutes_to_acceptance)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.minutes_to_acceptance, q)) if self.placed else float("nan")

    def placed_within(self, span: timedelta) -> int:
        return int(np.sum(self.minutes_to_acceptance <= span.total_seconds() / 60))

    @property
    def offers_per_placed(self) -> float:
        return self.detox_offers_of_placed / self.placed if self.placed else float("nan")

    @property
    def unplaced_share(self) -> float:
        return self.unplaced / self.referrals


def arrivals(count: int, start: datetime, random_seed: int) -> list[datetime]:
    """Arrival times of `count` referrals from `start`, one every ARRIVAL_EVERY on average (Poisson)."""
    gaps = np.random.default_rng([random_seed, 0]).exponential(ARRIVAL_EVERY.total_seconds(), count)
    return [start + timedelta(seconds=float(s)) for s in np.cumsum(gaps)]


def next_tick(moment: datetime, start: datetime) -> datetime:
    """Beat's first sweep at or after `moment` (sweeps run every SWEEP_EVERY from `start`)."""
    ticks = -(-(moment - start) // SWEEP_EVERY)
    return start + ticks * SWEEP_EVERY


def place_referrals(app: Flask, intakes: list[Intake], arriving: list[datetime], behaviour: Behaviour,
                    random_seed: int) -> Placement:  # fmt: skip
    """Place every referral on the app's database with the app's offer settings, until none is open."""
    clock = time.perf_counter()
    start = arriving[0]
    events: list[tuple[datetime, int, str, object]] = []
    sweeps_due: set[datetime] = set()
    counts = {"offers": 0, "answers": 0, "refused": 0, "sweeps": 0}
    order = itertools.count()  # events at the same moment run in the order they were scheduled

    def push(at: datetime, kind: str, payload: object = None) -> None:
        if kind == "sweep":
            at = next_tick(at, start)
            if at in sweeps_due:
                return
            sweeps_due.add(at)
        heapq.heappush(events, (at, next(order), kind, payload))

    for n, at in enumerate(arriving):
        push(at, "submit", n)
    with app.app_context():
        session = db.session
        offering, remind_after = dispatch.offering(), dispatch.reminder_after()
        sender = create_user(session, "bench-placement-referrals@example.org", "referral_staff")
        session.commit()
        referral_number: dict[str, int] = {}
        staff: dict[int, int] = {}
        last_offer = 0

        def center_staff(center_id: int) -> User:
            """The center's own account, made at its first answer (as an invitation would)."""
            if center_id not in staff:
                user = create_user(session, f"bench-placement-{center_id}@example.org", "center_staff", [center_id])
                session.commit()
                staff[center_id] = user.id
            user = session.get(User, staff[center_id])
            assert user is not None
            return user

        def new_offers() -> None:
            """Give every offer made since the last look its center's answer, reminder and expiry."""
            nonlocal last_offer
            rows = session.execute(
                select(Offer.id, Offer.referral_id, Offer.center_id, Offer.step, Offer.created_at, Offer.expires_at)
                .where(Offer.id > last_offer)
                .order_by(Offer.id)
            ).all()
            session.rollback()  # end the read
            for offer_id, referral_id, center_id, step, created, expires in rows:
                last_offer = offer_id
                counts["offers"] += 1
                answer = behaviour.answer(random_seed, referral_number[referral_id], center_id, step)
                if answer is not None:
                    accepts, delay = answer
                    push(created + delay, "answer", (offer_id, center_id, accepts))
                push(created + remind_after, "sweep")
                push(expires, "sweep")

        while events:
            now, _, kind, payload = heapq.heappop(events)
            if kind == "submit":
                assert isinstance(payload, int)
                referral = service.submit_referral(session, intakes[payload], sender, now, sending=True)
                referral_number[referral.id] = payload
                service.route_referral(session, referral.id, now=now, offering=offering)
            elif kind == "answer":
                offer_id, center_id, accepts = payload  # type: ignore[misc]
                actor = center_staff(center_id)
                counts["answers"] += 1
                try:
                    if accepts:
                        admission = (now + timedelta(days=1)).date()
                        service.accept_offer(session, offer_id, actor, admission, now=now, offering=offering)
                    else:
                        reason = DECLINE_REASONS[offer_id % len(DECLINE_REASONS)]
                        service.decline_offer(session, offer_id, actor, reason, now=now, offering=offering)
                except service.ReferralError:
                    counts["refused"] += 1  # too late: expired, or withdrawn when another center accepted
            else:
                counts["sweeps"] += 1
                sweeps_due.discard(now)
                service.stop_lapsed_consents(session, now=now)
                service.expire_offers(session, now=now, offering=offering)
                service.remind_open_offers(session, after=remind_after, now=now)
            new_offers()
        placement = read_placement(session, offering.at_once, list(referral_number))
        placement.offers_seen = counts["offers"]
        placement.answers, placement.refused_answers = counts["answers"], counts["refused"]
        placement.sweeps = counts["sweeps"]
        placement.arriving_over, placement.simulated = arriving[-1] - start, now - start
        placement.offer_ttl, placement.reminder_after = offering.ttl, remind_after
    placement.seconds = time.perf_counter() - clock
    return placement


def read_placement(session: Session, at_once: int, referral_ids: list[str]) -> Placement:
    """The outcome of every referral, from the database: statuses, acceptance times and offers."""
    taken = (OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value, OfferStatus.COMPLETED.value)
    referrals = {
        referral_id: (status, created)
        for referral_id, status, created in session.execute(
            select(Referral.id, Referral.status, Referral.created_at).where(Referral.id.in_(referral_ids))
        )
    }
    accepted: dict[tuple[str, str], datetime] = {
        (referral_id, step): at
        for referral_id, step, at in session.execute(
            select(Offer.referral_id, Offer.step, Offer.responded_at).where(
                Offer.referral_id.in_(referral_ids), Offer.status.in_(taken)
            )
        )
    }
    detox_offers = dict(
        session.execute(
            select(Offer.referral_id, func.count())
            .where(Offer.referral_id.in_(referral_ids), Offer.step == "detox")
            .group_by(Offer.referral_id)
        ).all()
    )
    offers = session.scalar(select(func.count()).select_from(Offer).where(Offer.referral_id.in_(referral_ids)))
    session.rollback()
    statuses: dict[str, int] = {}
    to_acceptance, to_naltrexone, offers_of_placed, unplaced, unoffered = [], [], 0, 0, 0
    for referral_id, (status, created) in referrals.items():
        statuses[status] = statuses.get(status, 0) + 1
        detox = accepted.get((referral_id, "detox"))
        if detox is None:
            unplaced += status == "unplaced"
            unoffered += status == "unplaced" and not detox_offers.get(referral_id)
            continue
        to_acceptance.append((detox - created).total_seconds() / 60)
        offers_of_placed += detox_offers.get(referral_id, 0)
        if (naltrexone := accepted.get((referral_id, "naltrexone"))) is not None:
            to_naltrexone.append((naltrexone - detox).total_seconds() / 60)
    return Placement(at_once, len(referrals), statuses, np.array(to_acceptance), offers_of_placed, unplaced,
                     unoffered, np.array(to_naltrexone), offers or 0)  # fmt: skip


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench placement",
        description="Place referrals on the seed directory in simulated time, one offer at a time and three at "
        "once; report time to acceptance, offers per placed referral and the share unplaced.",
    )
    parser.add_argument("--referrals", type=int, help="referrals placed in each mode (default 1,000; --quick: 50)")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 referrals")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    args.referrals = args.referrals or (50 if args.quick else 1000)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_mode(seed: Path, at_once: int, referrals: int, random_seed: int, start: datetime) -> Placement:
    """Place `referrals` referrals on a fresh copy of `seed` with OFFERS_AT_ONCE=`at_once` (in a process of its own)."""
    logging.getLogger("directory.mail").setLevel(logging.WARNING)  # a line per mail written otherwise
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-placement-{at_once}-"))
    try:
        database = workdir / "placement.sqlite3"
        shutil.copy(seed, database)
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{database}",
                "SECRET_KEY": "bench-placement-not-secret",
                "GEOCODER": "offline",
                "MAIL_OUTBOX": str(workdir / "outbox"),
                "CONFIRMATION_REQUESTS": False,
                "OFFERS_AT_ONCE": at_once,
            }
        )
        intakes = make_intakes(app, referrals, random_seed, now=start)
        placement = place_referrals(app, intakes, arrivals(referrals, start, random_seed), Behaviour(), random_seed)
        with app.app_context():
            db.engine.dispose()
        return placement
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    seed = data.seed_database(log)
    with closing(sqlite3.connect(f"file:{seed}?mode=ro", uri=True)) as connection:
        centers = connection.execute("SELECT count(*) FROM centers").fetchone()[0]
    # Simulated time starts at midnight UTC of the run's day: "verified" listings are judged from it.
    start = started.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    log(f"Placing {args.referrals:,} referrals with {' and '.join(map(str, MODES))} offers at once, in parallel ...")
    # The modes share nothing (a database copy each), and the times measured are simulated: one
    # process each halves the wall time and changes no result.
    with ProcessPoolExecutor(len(MODES), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_mode, seed, n, args.referrals, args.random_seed, start) for n in MODES]
        results = [future.result() for future in futures]
    for p in results:
        log(
            f"  {p.at_once} at once: placed {p.placed:,}, median {p.percentile(50):,.0f} min, "
            f"{p.offers_per_placed:.2f} offers per placed referral, {p.unplaced:,} unplaced, in {p.seconds:.1f} s"
        )
    command = " ".join(["python -m bench placement", *(sys.argv[2:] if argv is None else argv)])
    block = render(results, Behaviour(), command=command, started=started, seconds=time.perf_counter() - clock,
                   centers=centers)  # fmt: skip
    if args.output:
        write_section(args.output, NAME, wrap(NAME, block))
        log(f"Results written to {args.output}")
    print(block)


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f}"


def _minutes(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:,.0f}"


def goals(one: Placement, three: Placement) -> str:
    """The goal, judged: the ratio of the medians, and the shares unplaced."""
    ratio = one.percentile(50) / three.percentile(50)
    ratio_met = "met" if ratio >= GOAL_MEDIAN_RATIO else "missed"
    unplaced_met = "met" if three.unplaced_share <= one.unplaced_share else "missed"
    return (
        f"Goal: median time to acceptance at least {GOAL_MEDIAN_RATIO:g}x shorter with {three.at_once} offers at "
        f"once: {ratio:.1f}x ({_minutes(one.percentile(50))} min / {_minutes(three.percentile(50))} min), "
        f"**{ratio_met}**; no larger share unplaced: {three.unplaced_share:.1%} (one at a time: "
        f"{one.unplaced_share:.1%}), **{unplaced_met}**."
    )


def render(results: list[Placement], behaviour: Behaviour, *, command: str, started: datetime, seconds: float,
           centers: int) -> str:  # fmt: skip
    """The results block, as Markdown."""
    one, three = results[0], results[-1]
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min).",
        machine_line(),
        f"- Setup: SQLite, a fresh copy of the seed directory ({centers:,} centers) per mode, each in a process of its "
        f"own; {one.referrals:,} referrals arriving over {_days(one.arriving_over)} simulated days (one every "
        f"{ARRIVAL_EVERY.total_seconds() / 60:g} min on average), until none was open ({_days(one.simulated)} and "
        f"{_days(three.simulated)} days); {behaviour.describe()}; offers open "
        f"{_minutes(one.offer_ttl.total_seconds() / 60)} min, reminders after "
        f"{_minutes(one.reminder_after.total_seconds() / 60)} min",
        "",
        goals(one, three),
        "",
        "| offers at once | referrals | placed (detox accepted) | within 24 h | to acceptance p50 min | p90 min "
        "| detox offers per placed referral | unplaced (none fits) | needs review | answers refused (too late) "
        "| naltrexone placed | detox to naltrexone p50 min | offers in database | run in s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in results:
        naltrexone = _minutes(float(np.median(p.minutes_to_naltrexone))) if len(p.minutes_to_naltrexone) else "-"
        lines.append(
            f"| {p.at_once} | {p.referrals:,} | {p.placed:,} | {p.placed_within(timedelta(hours=24)):,} | "
            f"{_minutes(p.percentile(50))} | "
            f"{_minutes(p.percentile(90))} | {p.offers_per_placed:.2f} | {p.unplaced:,} ({p.unplaced_unoffered:,}), "
            f"{p.unplaced_share:.1%} | {p.statuses.get('needs_review', 0):,} | "
            f"{p.refused_answers:,} of {p.answers:,} | "
            f"{len(p.minutes_to_naltrexone):,} | {naltrexone} | {p.offers_in_database:,} | {p.seconds:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
