"""Fault tests: routing through a real Redis and a real Celery worker while things break.

The worker is SIGKILLed over and over (whole, or one pool process), Redis restarts mid-run or is
down while referrals are submitted, the database drops the worker's connections mid-task (on
SQLite, which has none: stays write-locked past the busy timeout). Each run must end with no
referral lost, no offer made twice, no referral routed twice and every referral in a valid
state (`audit`). Of 50 simultaneous accepts of one offer exactly one wins and the others are
told it is taken, and so of simultaneous accepts of one step's offers to different centers;
simultaneous deliveries of one routing task route it once, with one set of offers.

Each test prints its counts (`pytest -rA` or `-s` shows them) and puts them in its assertion
messages. What `celery beat` does is done by `Beat`, with ROUTING_REDISPATCH_SECONDS shortened
from two minutes to seconds: a whole worker killed leaves its messages unacknowledged in Redis
(for the 10-minute visibility timeout), and a Redis restart drops the queue; only the outbox's
re-send brings those referrals back.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.pool import NullPool

from directory.extensions import db
from directory.models import Center, OfferStatus, OutboxMessage, Referral, ReferralStatus, User
from directory.models.base import utcnow
from directory.referrals import dispatch
from directory.referrals.intake import validate_intake
from directory.referrals.service import (
    ROUTE,
    STEPS,
    Offering,
    ReferralError,
    accept_offer,
    route_referral,
    submit_referral,
)
from tests.conftest import copy_of_seeded, make_app
from tests.factories import add_centers, center_record, days_from_today, make_user
from tests.integration.services import Beat, RedisServer, Worker, start_redis, wait_for

pytestmark = pytest.mark.fault

REDISPATCH_SECONDS = 15
#: Each step offered to this many centers at once (the app's default), in the worker and here.
OFFERS_AT_ONCE = 3
#: The worker's PostgreSQL connections carry this name, so a test can drop exactly those.
WORKER_APPLICATION_NAME = "fault-test-worker"
PLACES = ["Denver, CO", "Atlanta, GA", "Seattle, WA", "33101", "Rapid City, SD", "Boise, ID", "Omaha, NE", "Tulsa, OK",
          "Albany, NY", "Madison, WI"]  # fmt: skip
UNROUTED = (ReferralStatus.RECEIVED.value, ReferralStatus.ROUTING.value)


def intake(n: int) -> dict:
    """A varied intake: most get a detox offer, some go to review (pain therapy), a few fit nowhere."""
    return {
        "client_reference": f"FAULT-{n:05d}",
        "location": PLACES[n % len(PLACES)],
        "max_distance_miles": 40,
        "payment": ("medicaid", "self_pay", "private_insurance", "ihs_tribal")[n % 4],
        "primary_opioid": ("heroin", "fentanyl", "oxycodone")[n % 3],
        "last_opioid_use": (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": ("no", "unknown")[n % 2],
        "on_opioid_pain_therapy": n % 13 == 0,
        "interacting_medications": [],
        "consent": {"granted": True, "recipients": "Treatment centers", "purpose": "Referral",
                    "expires_on": days_from_today(180)},
    }  # fmt: skip


class Submitter(threading.Thread):
    """Referral staff submitting `count` intakes one after another through the real service
    (referral, timeline and outbox row in one commit each), while the test breaks things."""

    def __init__(self, app: Flask, count: int) -> None:
        super().__init__(name="submitter", daemon=True)
        self.app, self.count = app, count
        self.ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                geocoder = self.app.extensions["geocoder"]
                for n in range(self.count):
                    intake_ = validate_intake(intake(n), geocoder, utcnow())
                    self.ids.append(submit_referral(db.session, intake_, None).id)
        except BaseException as error:  # reported by the test
            self.error = error


def submit(app: Flask, count: int) -> list[str]:
    submitter = Submitter(app, count)
    submitter.run()
    if submitter.error:
        raise submitter.error
    return submitter.ids


def counts(app: Flask) -> tuple[int, int]:
    """(routed, unrouted) referrals in the test's database (it holds only the test's referrals)."""
    with app.app_context():
        rows = db.session.execute(select(Referral.status, func.count()).group_by(Referral.status)).all()
    unrouted = sum(n for status, n in rows if status in UNROUTED)
    return sum(n for _, n in rows) - unrouted, unrouted


def unrouted(app: Flask) -> int:
    return counts(app)[1]


def routed(app: Flask) -> int:
    return counts(app)[0]


# What a run must end with -------------------------------------------------------------------------

OPEN = OfferStatus.OFFERED.value
TAKEN = (OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value, OfferStatus.COMPLETED.value)
#: An offer answered no, timed out or withdrawn: only then may a step be offered to one more center.
CLOSED = (OfferStatus.DECLINED.value, OfferStatus.EXPIRED.value, OfferStatus.WITHDRAWN.value)
#: Timeline entries that end a routing (a delivery that routes an already routed referral adds another).
ROUTING_OUTCOMES = ("referral:offered", "referral:unplaced", "referral:needs_review")


@dataclass
class Audit:
    submitted: int
    present: int = 0
    #: Referrals in the database nobody submitted (a submit applied twice would make one).
    extra: int = 0
    unrouted: int = 0
    statuses: Counter = field(default_factory=Counter)
    offers: int = 0
    duplicate_offers: int = 0
    duplicate_routings: int = 0
    sends: int = 0
    unsent: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.submitted - self.present

    def __str__(self) -> str:
        return (
            f"submitted={self.submitted} present={self.present} lost={self.lost} extra={self.extra} "
            f"unrouted={self.unrouted} "
            f"offers={self.offers} duplicate_offers={self.duplicate_offers} "
            f"duplicate_routings={self.duplicate_routings} invalid_states={len(self.problems)} "
            f"outbox_sends={self.sends} (re-sends {self.sends - self.submitted + self.unsent}) unsent={self.unsent} "
            f"statuses={dict(sorted(self.statuses.items()))}"
        )

    def assert_clean(self) -> None:
        assert self.lost == 0, f"referrals lost: {self}"
        assert self.extra == 0, f"referrals nobody submitted: {self}"
        assert self.unrouted == 0, f"referrals left unrouted: {self}"
        assert self.duplicate_offers == 0, f"duplicate offers: {self}"
        assert self.duplicate_routings == 0, f"referrals routed twice: {self}"
        assert self.unsent == 0, f"outbox rows never sent: {self}"
        assert not self.problems, f"invalid states: {self}\n" + "\n".join(self.problems[:20])


def referral_problems(referral: Referral) -> tuple[int, list[str]]:
    """(duplicate offers, problems) of one referral: its status must agree with its offers and plan.

    A duplicate offer is one more than OFFERS_AT_ONCE offers of a step not closed (declined, expired,
    withdrawn), or a center offered a step twice. A step accepted has no other offer open.
    """
    problems = []
    duplicates = 0
    where = f"referral {referral.id} ({referral.status})"
    if referral.status not in set(ReferralStatus):
        problems.append(f"{where}: unknown status")
    by_step: dict[str, list] = {step: [] for step in STEPS}
    for offer in referral.offers:
        if offer.step not in by_step or offer.status not in set(OfferStatus):
            problems.append(f"{where}: offer {offer.id} has step {offer.step!r}, status {offer.status!r}")
            continue
        by_step[offer.step].append(offer)
    for step, offers in by_step.items():
        standing = [o for o in offers if o.status not in CLOSED]
        duplicates += max(0, len(standing) - OFFERS_AT_ONCE)
        duplicates += len(offers) - len({o.center_id for o in offers})
        taken = [o for o in offers if o.status in TAKEN]
        if len(taken) > 1:
            problems.append(f"{where}: more than one accepted {step} offer")
        if taken and any(o.status == OPEN for o in offers):
            problems.append(f"{where}: {step} offers still open beside the accepted one")
    open_offers = [o for o in referral.offers if o.status == OPEN]
    detox_open = [o for o in by_step["detox"] if o.status == OPEN]
    detox_taken = [o for o in by_step["detox"] if o.status in TAKEN]
    status = referral.status
    if status in UNROUTED and referral.offers:
        problems.append(f"{where}: unrouted but has offers")
    if status == ReferralStatus.OFFERED:
        if not 1 <= len(detox_open) <= OFFERS_AT_ONCE or detox_taken:
            problems.append(f"{where}: needs 1 to {OFFERS_AT_ONCE} open detox offers and none accepted")
        elif (referral.plan or {}).get("detox", {}).get("center_id") not in {o.center_id for o in detox_open}:
            problems.append(f"{where}: the plan's detox center is not an offered one")
    if (
        status in (ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED)
        and len(detox_taken) != 1
    ):
        problems.append(f"{where}: needs exactly one accepted detox offer")
    if status in (ReferralStatus.UNPLACED, ReferralStatus.NEEDS_REVIEW, ReferralStatus.CANCELLED) and open_offers:
        problems.append(f"{where}: still has open offers")
    if status in (ReferralStatus.OFFERED, ReferralStatus.UNPLACED, ReferralStatus.NEEDS_REVIEW) and not referral.plan:
        problems.append(f"{where}: routed without a plan")
    return duplicates, problems


def audit(app: Flask, ids: list[str]) -> Audit:
    """Count what a fault run left behind: lost, unrouted, duplicated, invalid (no center answered in these runs)."""
    result = Audit(submitted=len(ids))
    with app.app_context():
        session = db.session
        referrals = session.scalars(
            select(Referral)
            .where(Referral.id.in_(ids))
            .options(selectinload(Referral.offers), selectinload(Referral.timeline))
        ).all()
        result.extra = session.scalar(select(func.count()).select_from(Referral).where(Referral.id.not_in(ids)))
        outbox = Counter()
        for referral_id, dispatched_at, attempts in session.execute(
            select(OutboxMessage.referral_id, OutboxMessage.dispatched_at, OutboxMessage.attempts).where(
                OutboxMessage.referral_id.in_(ids), OutboxMessage.task == ROUTE
            )
        ):
            outbox[referral_id] += 1
            result.sends += attempts
            result.unsent += dispatched_at is None
        for referral in referrals:
            result.present += 1
            result.statuses[referral.status] += 1
            result.unrouted += referral.status in UNROUTED
            result.offers += len(referral.offers)
            duplicates, problems = referral_problems(referral)
            result.duplicate_offers += duplicates
            result.problems += problems
            timeline = Counter(entry.status for entry in referral.timeline)
            # Nobody answers in these runs: one routing, and one timeline entry per offer made.
            result.duplicate_routings += max(0, sum(timeline[s] for s in ROUTING_OUTCOMES) - 1)
            if timeline["referral:received"] != 1:
                result.problems.append(f"referral {referral.id}: {timeline['referral:received']} 'received' entries")
            if sum(n for s, n in timeline.items() if s.endswith(":offered") and s.startswith("offer:")) != len(
                referral.offers
            ):
                result.problems.append(f"referral {referral.id}: offer timeline does not match its offers")
            if outbox[referral.id] != 1:
                result.problems.append(f"referral {referral.id}: {outbox[referral.id]} outbox rows, not 1")
    return result


def task_failures(log: Path) -> list[str]:
    """Tasks that ended in an error in the worker (retries are not failures)."""
    return re.findall(r"raised unexpected: .*|Task handler raised error: .*", log.read_text())


def notices_waiting(app: Flask) -> int:
    """Notices in the outbox not mailed yet (a notice's row is deleted once its mail went)."""
    with app.app_context():
        return db.session.scalar(select(func.count()).where(OutboxMessage.task != ROUTE)) or 0


def wait_routed(app: Flask, redis: RedisServer, seconds: float) -> None:
    """Wait until no referral is unrouted, every notice of the routings is mailed (beat's rounds send
    those whose sending failed) and the broker's queue is empty (no delivery still to come)."""
    try:
        wait_for(lambda: unrouted(app) == 0, seconds, "every referral to leave the unrouted state", interval=0.5)
    except AssertionError as error:
        raise AssertionError(f"{error}: {counts(app)[1]} still unrouted, {counts(app)[0]} routed") from None
    try:
        wait_for(lambda: notices_waiting(app) == 0, 60, "every notice to be mailed", interval=0.5)
    except AssertionError as error:
        raise AssertionError(f"{error}: {notices_waiting(app)} still in the outbox") from None
    wait_for(lambda: redis.queue_length() == 0, 60, "the queue to drain", interval=0.5)
    time.sleep(1)  # the deliveries the worker holds finish


def report(name: str, result: Audit, worker: Worker | None = None, beat: Beat | None = None, **facts: object) -> str:
    """Print the run's counts on one line (and return it for assertion messages)."""
    if worker is not None:
        facts = {"worker_restarts": worker.restarts, "task_failures": len(task_failures(worker.log)), **facts}
    if beat is not None:
        facts["beat_failed_rounds"] = beat.failed_rounds
    line = f"{name}: {result}" + "".join(f" {k}={v}" for k, v in facts.items())
    print(f"\n{line}")
    return line


# Fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: Path):
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def fault_app(seeded_database, tmp_path, redis):
    app = make_app(
        copy_of_seeded(seeded_database, tmp_path),
        REDIS_URL=redis.url,
        MAIL_OUTBOX=str(tmp_path / "outbox"),
        ROUTING_REDISPATCH_SECONDS=REDISPATCH_SECONDS,
        OFFERS_AT_ONCE=OFFERS_AT_ONCE,
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker(fault_app, tmp_path):
    url = make_url(fault_app.config["DATABASE_URL"])
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"application_name": WORKER_APPLICATION_NAME})
    w = Worker(fault_app, tmp_path / "worker.log", DATABASE_URL=url.render_as_string(hide_password=False))
    w.start()
    yield w
    w.stop()


# The faults ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_worker_sigkilled_repeatedly_while_500_referrals_are_routed(fault_app, worker, redis):
    submitter = Submitter(fault_app, 500)
    kills = []
    with Beat(fault_app, interval=0.5) as beat:
        submitter.start()
        for round_ in range(4):
            # Kill each time the (restarted) worker has visibly routed some more.
            before = routed(fault_app)
            wait_for(lambda: routed(fault_app) >= before + 15, 60, "the worker to route", interval=0.1)  # noqa: B023
            if round_ % 2 == 0:
                worker.kill()  # what it held stays unacknowledged in Redis: the outbox re-sends it
                kills.append(f"worker@{routed(fault_app)}")
                worker.start()
            else:
                worker.kill_child()  # reject_on_worker_lost puts the message back at once
                kills.append(f"pool-process@{routed(fault_app)}")
        submitter.join()
        assert submitter.error is None, repr(submitter.error)
        assert unrouted(fault_app) > 0, f"every referral was routed before the last kill: {kills}"
        wait_routed(fault_app, redis, 150)
    result = audit(fault_app, submitter.ids)
    failures = task_failures(worker.log)
    # A killed pool process shows as WorkerLostError (its message is requeued); nothing else may fail.
    unexpected = [f for f in failures if "WorkerLostError" not in f]
    line = report("SIGKILL x4", result, worker, beat, kills_at_routed=kills,
                  worker_lost=len(failures) - len(unexpected), task_failures=len(unexpected))  # fmt: skip
    assert result.submitted == 500, line
    result.assert_clean()
    assert not unexpected, f"{line}\n" + "\n".join(unexpected[:10])


@pytest.mark.integration
def test_redis_restarted_mid_run(fault_app, worker, redis):
    # The queue is short here, so the messages the restart drops can be re-sent sooner.
    fault_app.config["ROUTING_REDISPATCH_SECONDS"] = 5
    ids = submit(fault_app, 150)
    with Beat(fault_app) as beat:
        wait_for(lambda: routed(fault_app) >= 20, 60, "routing to begin", interval=0.1)
        queued = redis.queue_length()
        at_restart = unrouted(fault_app)
        redis.stop()  # no persistence: every queued message is gone
        redis.start()
        # Notices of changes committed while Redis was away wait in the outbox unsent: beat's
        # rounds send them (`wait_routed` waits for every one to be mailed).
        wait_routed(fault_app, redis, 120)
    result = audit(fault_app, ids)
    failures = task_failures(worker.log)
    unsent = worker.log.read_text().count("could not send tasks.notifications.deliver_notices")
    line = report("Redis restarted", result, worker, beat, unrouted_at_restart=at_restart, queued_dropped=queued,
                  notices_unsent_at_commit=unsent)  # fmt: skip
    assert queued > 0, f"the restart dropped nothing: {line}"
    result.assert_clean()
    assert not failures, f"{line}\n" + "\n".join(failures[:10])


@pytest.mark.integration
def test_redis_down_while_referrals_are_submitted(fault_app, worker, redis):
    redis.stop()
    ids, slowest = [], 0.0
    with fault_app.app_context():  # submitted the web's way: commit, then try the broker once
        geocoder = fault_app.extensions["geocoder"]
        for n in range(40):
            checked = validate_intake(intake(n), geocoder, utcnow())  # untimed: the first loads the geocoder
            started = time.monotonic()
            ids.append(dispatch.submit_and_send(checked, None).id)
            slowest = max(slowest, time.monotonic() - started)
    down = audit(fault_app, ids)
    assert down.unsent == 40 and down.statuses == {"received": 40}, f"with Redis down: {down}"
    redis.start()
    with Beat(fault_app) as beat:
        wait_routed(fault_app, redis, 120)
    result = audit(fault_app, ids)
    failures = task_failures(worker.log)
    line = report("Redis down at submit", result, worker, beat, slowest_submit_s=round(slowest, 3))
    assert slowest < 1.0, f"a submit waited on the broker: {line}"
    result.assert_clean()
    assert not failures, f"{line}\n" + "\n".join(failures[:10])


@pytest.mark.integration
def test_redis_hung_while_referrals_are_submitted(fault_app, worker, redis):
    """Redis stops answering (SIGSTOP: its connections are still accepted) while referrals are
    submitted: each submit gives up on the broker within seconds, and beat sends them once it answers."""
    ids, times = [], []

    def submit_all() -> None:
        with fault_app.app_context():
            geocoder = fault_app.extensions["geocoder"]
            for n in range(10):
                checked = validate_intake(intake(n), geocoder, utcnow())
                started = time.monotonic()
                ids.append(dispatch.submit_and_send(checked, None).id)
                times.append(time.monotonic() - started)

    redis.pause()
    submitter = threading.Thread(target=submit_all, daemon=True)  # a submit that hangs fails the test
    try:
        submitter.start()
        submitter.join(timeout=60)
    finally:
        redis.resume()
    assert not submitter.is_alive(), f"a submit hung on the broker after {len(ids)} of 10"
    slowest = max(times)
    hung = audit(fault_app, ids)
    assert hung.unsent == 10 and hung.statuses == {"received": 10}, f"with Redis hung: {hung}"
    with Beat(fault_app) as beat:
        wait_routed(fault_app, redis, 120)
    result = audit(fault_app, ids)
    line = report("Redis hung at submit", result, worker, beat, slowest_submit_s=round(slowest, 3))
    assert slowest < 5.0, f"a submit waited on the hung broker: {line}"
    result.assert_clean()


def drop_worker_connections(app: Flask) -> tuple[int, int]:
    """PostgreSQL: terminate the worker's connections; returns (terminated, of which busy in a task)."""
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid), state FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": WORKER_APPLICATION_NAME},
        ).all()
        connection.commit()
    return sum(1 for ok, _ in rows if ok), sum(1 for ok, state in rows if ok and state != "idle")


def lock_database(app: Flask, seconds: float) -> None:
    """SQLite: hold the write lock longer than the busy timeout (as a long import or a backup would)."""
    path = make_url(app.config["DATABASE_URL"]).database
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@pytest.mark.integration
def test_database_connection_dropped_mid_task(fault_app, worker, redis):
    """PostgreSQL: the worker's connections are terminated (pg_terminate_backend) while it routes.
    SQLite has no connection to drop: the database is instead locked for writes longer than the
    busy timeout, so the worker's transactions fail mid-task with "database is locked"."""
    postgres = make_url(fault_app.config["DATABASE_URL"]).get_backend_name() == "postgresql"
    ids = submit(fault_app, 200)
    faults = Counter()
    with Beat(fault_app) as beat:
        wait_for(lambda: routed(fault_app) >= 10, 60, "routing to begin", interval=0.1)
        if postgres:
            for _ in range(8):
                terminated, busy = drop_worker_connections(fault_app)
                faults["connections_terminated"] += terminated
                faults["of_them_mid_task"] += busy
                time.sleep(0.5)
        else:
            for _ in range(2):
                lock_database(fault_app, 6.5)
                faults["write_locks_held_6.5s"] += 1
                time.sleep(1)
        faults["unrouted_after_faults"] = unrouted(fault_app)
        wait_routed(fault_app, redis, 150)
    result = audit(fault_app, ids)
    log = worker.log.read_text()
    failures = task_failures(worker.log)
    retries = len(re.findall(r"retry: Retry in", log))
    name = "database dropped" if postgres else "database locked"
    line = report(name, result, worker, beat, **faults, task_retries=retries)
    if postgres:
        assert faults["of_them_mid_task"] > 0, f"no connection was dropped mid-task: {line}"
    assert retries > 0, f"no task met the fault: {line}"
    result.assert_clean()
    assert not failures, f"{line}\n" + "\n".join(failures[:10])


# Concurrency ---------------------------------------------------------------------------------------


def race(app: Flask, threads: int, action: Callable[[Session, int], str]) -> tuple[list[str], float]:
    """Run `action(session, n)` in `threads` threads released at once, each with a session of its own;
    returns each one's outcome ("error: ..." for an unexpected exception) and the seconds taken.

    PostgreSQL: each thread on a connection of its own. SQLite: the app's engine and its busy timeout.
    """
    url = app.config["DATABASE_URL"]
    engine = create_engine(url, poolclass=NullPool) if url.startswith("postgresql") else None
    start = threading.Barrier(threads, timeout=60)
    outcomes: list[str] = []

    def run(n: int) -> None:
        with app.app_context():
            start.wait()
            own = db.sessionmaker(bind=engine or db.engine)
            try:
                outcomes.append(action(own, n))
            except Exception as error:
                outcomes.append(f"error: {type(error).__name__}: {error}")
            finally:
                own.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if engine is not None:
        engine.dispose()
    return outcomes, time.monotonic() - started


@pytest.fixture
def small_directory(session):
    """A detox center and a naltrexone clinic in Chicago (routing there takes milliseconds)."""
    add_centers(
        session,
        center_record(name="Detox", levels_of_care=["medical_detox"], payment_options=["medicaid"]),
        center_record(name="Clinic", levels_of_care=["outpatient"], payment_options=["medicaid"],
                      medications=["naltrexone_injectable"]),
    )  # fmt: skip
    return session.scalar(select(Center).where(Center.name == "Detox"))


def submit_one(app: Flask, session: Session, **overrides: object) -> Referral:
    data = {**intake(1), "location": "60601", "payment": "medicaid", "on_opioid_pain_therapy": False, **overrides}
    return submit_referral(session, validate_intake(data, app.extensions["geocoder"], utcnow()), None)


def test_50_parallel_accepts_of_one_offer_exactly_one_wins(app, session, small_directory):
    referral = submit_one(app, session)
    assert route_referral(session, referral.id) == "offered"
    offer_id = referral.offers[0].id
    staff_ids = [make_user(session, "center_staff", [small_directory]).id for _ in range(5)]

    def accept(own: Session, n: int) -> str:
        try:
            accept_offer(own, offer_id, own.get(User, staff_ids[n % 5]), date.today() + timedelta(days=1))
        except ReferralError as error:
            return f"refused: {error}"
        return "won"

    outcomes, elapsed = race(app, 50, accept)
    counts = Counter(o.split(":")[0] for o in outcomes)
    session.expire_all()
    referral = session.get(Referral, referral.id)
    accepted_entries = [e for e in referral.timeline if e.status == "offer:detox:accepted"]
    naltrexone = [o for o in referral.offers if o.step == "naltrexone"]
    line = (
        f"50 parallel accepts: won={counts['won']} told_already_accepted={counts['refused']} "
        f"errors={counts['error']} accepted_timeline_entries={len(accepted_entries)} "
        f"naltrexone_offers={len(naltrexone)} referral={referral.status} in {elapsed:.2f} s"
    )
    print(f"\n{line}")
    assert counts["won"] == 1 and len(outcomes) == 50, line
    errors = [o for o in outcomes if o.startswith("error")]
    assert not errors, f"{line}\n" + "\n".join(errors[:5])
    assert all("it is accepted" in o for o in outcomes if o.startswith("refused")), line
    assert referral.status == "accepted" and len(accepted_entries) == 1 and len(naltrexone) == 1, line
    assert [o.status for o in referral.offers if o.step == "detox"] == ["accepted"], line


THREE = Offering(at_once=OFFERS_AT_ONCE)


def test_parallel_accepts_of_one_steps_offers_to_different_centers_exactly_one_wins(app, session):
    """30 threads accept the three open offers of one detox step (10 each) at once: one wins, the
    others are told the offer is taken or that another center accepted; the step's other offers are
    withdrawn with the win, and the naltrexone step is offered once."""
    detox = {"levels_of_care": ["medical_detox"], "payment_options": ["medicaid"]}
    add_centers(
        session,
        *(center_record(name=f"Detox {n}", latitude=41.88 + n / 100, **detox) for n in (1, 2, 3)),
        center_record(name="Clinic", levels_of_care=["outpatient"], payment_options=["medicaid"],
                      medications=["naltrexone_injectable"]),
    )  # fmt: skip
    referral = submit_one(app, session)
    assert route_referral(session, referral.id, offering=THREE) == "offered"
    offers = [(o.id, o.center_id) for o in referral.offers]
    assert len(offers) == 3
    staff_ids = [make_user(session, "center_staff", [center_id]).id for _, center_id in offers]

    def accept(own: Session, n: int) -> str:
        offer_id = offers[n % 3][0]
        try:
            accept_offer(own, offer_id, own.get(User, staff_ids[n % 3]), date.today() + timedelta(days=1),
                         offering=THREE)  # fmt: skip
        except ReferralError as error:
            return f"refused: {error}"
        return "won"

    outcomes, elapsed = race(app, 30, accept)
    counts = Counter(o.split(":")[0] for o in outcomes)
    session.expire_all()
    referral = session.get(Referral, referral.id)
    line = (
        f"30 parallel accepts of 3 offers: won={counts['won']} refused={counts['refused']} errors={counts['error']} "
        f"detox={sorted(o.status for o in referral.offers if o.step == 'detox')} in {elapsed:.2f} s"
    )
    print(f"\n{line}")
    assert counts["won"] == 1 and len(outcomes) == 30, f"{line}\n" + "\n".join(outcomes[:5])
    elsewhere = "another center accepted this referral"
    assert all("it is accepted" in o or elsewhere in o for o in outcomes if o.startswith("refused")), (
        f"{line}\n" + "\n".join(outcomes[:5])
    )
    assert sorted(o.status for o in referral.offers if o.step == "detox") == ["accepted", "withdrawn", "withdrawn"]
    assert len([o for o in referral.offers if o.step == "naltrexone"]) == 1, line
    assert len([e for e in referral.timeline if e.status == "offer:detox:accepted"]) == 1, line
    duplicates, problems = referral_problems(referral)
    assert duplicates == 0 and not problems, problems


def test_parallel_deliveries_of_one_routing_task_route_it_once(app, session, small_directory):
    """A re-sent routing task can run while the first delivery still runs: one routing, whatever the outcome."""
    referrals = {
        "offered": submit_one(app, session).id,
        "unplaced": submit_one(app, session, payment="private_insurance").id,
        "needs_review": submit_one(app, session, on_opioid_pain_therapy=True).id,
    }
    outcomes: Counter = Counter()
    for expected, referral_id in referrals.items():
        results, _ = race(app, 10, lambda own, _n: route_referral(own, referral_id, offering=THREE))  # noqa: B023
        outcomes.update(results)
        assert set(results) == {expected}, results
    result = audit(app, list(referrals.values()))
    line = report("10 parallel deliveries x 3 referrals", result, outcomes=dict(outcomes))
    assert result.statuses == dict.fromkeys(referrals, 1), line
    assert result.duplicate_routings == 0 and result.duplicate_offers == 0 and not result.problems, line
