"""python -m bench routing: referrals routed through a real Redis and a Celery worker with two processes.

Two phases of N referrals each (default 1,000), on a copy of the seed directory:

1. Throughput: N referrals are written first (the app's `submit_referral`: referral, timeline
   and outbox row in one transaction), then their outbox rows are sent to Redis as the app and
   `celery beat` do (`dispatch.send_pending`); routed/s is N over the time from the first send
   until every referral is routed (offered, unplaced or needs review), as seen by polling.
2. Latency: N referrals submitted at a steady rate (default 100/s) through the app's own
   `dispatch.submit_and_send` (commit, then publish), by several threads as concurrent web
   requests would; submit-to-first-offer is the first offer row's `created_at` minus the
   referral's `created_at`, both stamped in the database.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis
from flask import Flask
from sqlalchemy import create_engine, func, make_url, select, text

from bench import data
from bench.processes import Service, start_redis, tree_cpu_seconds, wait_for
from bench.results import machine_line, wrap, write_section
from directory import create_app, schema
from directory.accounts.service import create_user
from directory.extensions import db
from directory.models import Center, Offer, Referral, User
from directory.models.base import utcnow
from directory.referrals import dispatch, service
from directory.referrals.intake import Intake, IntakeInvalid, validate_intake
from directory.sources import import_file

NAME = "routing"
#: Phase 3's referrals, in percent of `--referrals`: latency when the worker keeps up.
UNLOADED_SHARE = 30
SETTLED = ("offered", "unplaced", "needs_review")
#: The issue's goals.
GOAL_ROUTED_PER_SECOND = 100.0
GOAL_P99_SECONDS = 1.0
TASK_SUCCEEDED = re.compile(r"Task tasks\.routing\.route_referral\[[^\]]+\] succeeded in ([0-9.e-]+)s")
NOTIFICATION_SUCCEEDED = re.compile(r"Task tasks\.notifications\.\w+\[[^\]]+\] succeeded in")


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    referrals: int
    seconds: float
    statuses: dict[str, int]
    submit_seconds: float
    latencies: np.ndarray  # submit to first offer, seconds (offered referrals only)
    routed_latencies: np.ndarray  # submit to routed (any settled status), seconds
    worker_cpu_seconds: float = 0.0  # used by the Celery worker's processes meanwhile
    submit_cpu_seconds: float = 0.0  # used by this process's submitting (its threads, as web requests would)

    @property
    def routed_per_second(self) -> float:
        return self.referrals / self.seconds


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench routing",
        description="Route referrals through a private redis-server and `celery -A tasks worker --concurrency 2`; "
        "report referrals routed per second and submit-to-first-offer p50/p99.",
    )
    parser.add_argument("--referrals", type=int, help="referrals per phase (default 1,000; --quick: 100)")
    parser.add_argument("--rate", type=float, default=100.0, help="submissions per second in phase 2 (default 100)")
    parser.add_argument(
        "--submitters",
        type=int,
        default=4,
        help="threads submitting in phases 2 and 3, each with its own session (default 4)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes of the Celery worker (default 2)")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="route on a fresh PostgreSQL database on this server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
        "postgres; named directory_bench_routing_*, dropped afterwards) instead of a copy of the SQLite seed database",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile route_referral in-process (pyinstrument) on 100 of the referrals and print where it spends",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 referrals per phase")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    args.referrals = args.referrals or (100 if args.quick else 1000)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def intake_data(n: int, place: str, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
    """A varied intake for a real place: payment, opioid, last use, liver and medication answers."""
    last_use = now - timedelta(hours=float(rng.uniform(6, 24 * 10)))
    return {
        "client_reference": f"BENCH-{n:06d}",
        "contact_phone": "(555) 867-5309",
        "location": place,
        "max_distance_miles": int(rng.choice([25, 50, 60, 100], p=[0.3, 0.4, 0.2, 0.1])),
        "payment": str(rng.choice(["medicaid", "self_pay", "private_insurance", "medicare", "sliding_scale"])),
        "primary_opioid": str(rng.choice(["heroin", "fentanyl", "oxycodone", "methadone", "buprenorphine"])),
        "last_opioid_use": last_use.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": str(rng.choice(["no", "no", "no", "unknown", "yes"])),
        "on_opioid_pain_therapy": bool(rng.random() < 0.05),
        "interacting_medications": ["alcohol"] if rng.random() < 0.1 else [],
        "language": "es" if rng.random() < 0.1 else None,
        "consent": {
            "granted": True,
            "recipients": "Treatment centers",
            "purpose": "Referral",
            "expires_on": (now.date() + timedelta(days=180)).isoformat(),
        },
    }


def make_intakes(app: Flask, count: int, random_seed: int, now: datetime | None = None) -> list[Intake]:
    """`count` validated intakes near real places: ZIP codes and "City, ST" of random seed centers,
    as filled in at `now` (default: the current time)."""
    rng = np.random.default_rng(random_seed)
    with app.app_context():
        rows = db.session.execute(select(Center.zip, Center.city, Center.state).order_by(Center.id)).all()
        geocoder, now = app.extensions["geocoder"], now or utcnow()
        intakes: list[Intake] = []
        while len(intakes) < count:
            zip_code, city, state = rows[rng.integers(len(rows))]
            place = zip_code if rng.random() < 0.7 else f"{city}, {state}"
            try:
                intakes.append(validate_intake(intake_data(len(intakes), place, now, rng), geocoder, now))
            except IntakeInvalid as invalid:
                if set(invalid.fields) != {"location"}:
                    raise
                continue  # a place the offline geocoder does not know
    return intakes


def referral_staff(app: Flask) -> int:
    """A referral staff account to submit as, as the web and API do: status changes are then mailed to it."""
    with app.app_context():
        user = create_user(db.session, "bench-referrals@example.org", "referral_staff")
        db.session.commit()
        return user.id


def settled_count(app: Flask, ids: list[str]) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Referral).where(Referral.id.in_(ids), Referral.status.in_(SETTLED))
        )


def wait_routed(app: Flask, ids: list[str], worker: Service, timeout: float) -> float:
    """Poll until every referral is routed; the perf_counter time at which that was first seen."""
    deadline = time.perf_counter() + timeout
    chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
    while time.perf_counter() < deadline:
        if sum(settled_count(app, chunk) for chunk in chunks) == len(ids):
            return time.perf_counter()
        worker.check_running()
        time.sleep(0.05)
    raise SystemExit(f"not every referral was routed within {timeout:g} s; see the worker's log {worker.log}")


def phase_results(app: Flask, name: str, ids: list[str], seconds: float, submit_seconds: float) -> Phase:
    with app.app_context():
        db.session.expire_all()
        first_offer = (
            select(Offer.referral_id, func.min(Offer.created_at).label("at"))
            .where(Offer.referral_id.in_(ids))
            .group_by(Offer.referral_id)
            .subquery()
        )
        rows = db.session.execute(
            select(Referral.status, Referral.created_at, Referral.updated_at, first_offer.c.at)
            .outerjoin(first_offer, first_offer.c.referral_id == Referral.id)
            .where(Referral.id.in_(ids))
        ).all()
    statuses: dict[str, int] = {}
    for status, *_ in rows:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = np.array([(at - created).total_seconds() for _, created, _, at in rows if at is not None])
    routed = np.array([(updated - created).total_seconds() for _, created, updated, _ in rows])
    return Phase(name, len(ids), seconds, statuses, submit_seconds, latencies, routed)


def throughput_phase(app: Flask, intakes: list[Intake], worker: Service, actor_id: int) -> Phase:
    """Write every referral first, then send their tasks: routed/s of the worker alone."""
    with app.app_context():
        actor = db.session.get(User, actor_id)
        started, own_cpu = time.perf_counter(), time.process_time()
        ids = [service.submit_referral(db.session, intake, actor).id for intake in intakes]
        submit_seconds = time.perf_counter() - started
        log(f"  wrote {len(ids):,} referrals in {submit_seconds:.1f} s; sending their tasks ...")
        cpu, started = worker_cpu(worker), time.perf_counter()
        while dispatch.send_pending():
            pass
        own_cpu = time.process_time() - own_cpu
    finished = wait_routed(app, ids, worker, timeout=60 + len(ids))
    phase = phase_results(app, "throughput", ids, finished - started, submit_seconds)
    phase.worker_cpu_seconds = worker_cpu(worker) - cpu
    phase.submit_cpu_seconds = own_cpu
    log(f"  throughput: {phase.routed_per_second:,.1f} referrals routed/s ({phase.statuses})")
    return phase


def latency_phase(
    app: Flask, intakes: list[Intake], rate: float, worker: Service, actor_id: int, submitters: int
) -> Phase:
    """Submit at a steady rate through the app's submit path; submit-to-first-offer per referral.

    The n-th referral is due at n / rate seconds. Several threads submit, each with its own session
    (as concurrent web requests would): one alone spends most of its time waiting on its commit
    and the broker, and fell behind the rate on PostgreSQL.
    """
    ids: list[str] = [""] * len(intakes)
    due = iter(range(len(intakes)))
    lock = threading.Lock()
    errors: list[BaseException] = []
    cpu, own_cpu = worker_cpu(worker), time.process_time()
    started = time.perf_counter()

    def submit() -> None:
        try:
            with app.app_context():
                actor = db.session.get(User, actor_id)
                while not errors:
                    with lock:
                        n = next(due, None)
                    if n is None:
                        return
                    delay = started + n / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    ids[n] = dispatch.submit_and_send(intakes[n], actor).id
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit, name=f"submitter-{i}") for i in range(submitters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    submit_seconds = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    finished = wait_routed(app, ids, worker, timeout=60 + len(ids))
    phase = phase_results(app, "latency", ids, finished - started, submit_seconds)
    phase.worker_cpu_seconds = worker_cpu(worker) - cpu
    phase.submit_cpu_seconds = own_cpu
    p50, p99 = np.percentile(phase.latencies, [50, 99]) if len(phase.latencies) else (float("nan"),) * 2
    log(
        f"  latency: submitted {len(ids):,} in {submit_seconds:.1f} s ({len(ids) / submit_seconds:,.0f}/s); "
        f"submit to first offer p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    )
    return phase


def wait_queue_drained(redis_url: str, worker: Service, timeout: float = 300) -> None:
    """Wait until the worker has taken and finished every queued task and notice (phase 1's notifications)."""
    client = redis.Redis.from_url(redis_url)
    try:

        def drained() -> bool:
            worker.check_running()
            return client.llen("celery") == 0 and client.hlen("unacked") == 0

        wait_for(drained, timeout, "the worker to finish the queued tasks", interval=0.1)
    finally:
        client.close()


def worker_cpu(worker: Service) -> float:
    assert worker.process is not None
    return tree_cpu_seconds(worker.process.pid)


def task_durations(worker_log: Path) -> np.ndarray:
    """Run times of the routing tasks, from the worker's log (Celery's "succeeded in" lines)."""
    return np.array([float(m) for m in TASK_SUCCEEDED.findall(worker_log.read_text(errors="replace"))])


def notification_tasks(worker_log: Path) -> int:
    """How many notification tasks the worker ran, from its log."""
    return len(NOTIFICATION_SUCCEEDED.findall(worker_log.read_text(errors="replace")))


def profile_routing(app: Flask, intakes: list[Intake]) -> str:
    """pyinstrument over `service.route_referral` for these intakes, in this process (no broker)."""
    from pyinstrument import Profiler

    with app.app_context():
        ids = [service.submit_referral(db.session, intake, None).id for intake in intakes]
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        for referral_id in ids:
            service.route_referral(db.session, referral_id)
        profiler.stop()
        seconds = time.perf_counter() - started
    header = f"route_referral in-process: {len(ids)} referrals in {seconds:.2f} s ({len(ids) / seconds:.0f}/s)\n"
    return header + profiler.output_text(unicode=False, color=False)


class Database:
    """The benchmark's database: a copy of the SQLite seed database, or a fresh PostgreSQL one with the seed."""

    def __init__(self, workdir: Path, postgres: str | None) -> None:
        self.server = make_url(postgres) if postgres else None
        self.name: str | None = None
        if self.server is None:
            path = workdir / "routing.sqlite3"
            shutil.copyfile(data.seed_database(log), path)
            self.url = f"sqlite:///{path}"
            return
        self.name = f"directory_bench_routing_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)
        app = create_app({"DATABASE_URL": self.url, "SECRET_KEY": "bench"})
        with app.app_context():
            schema.upgrade(db.engine)
            log("Importing the seed directory into PostgreSQL ...")
            import_file(db.session, data.SEED_FILE, "centers")
            db.engine.dispose()

    def drop(self) -> None:
        if self.name:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        assert self.server is not None
        engine = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(statement))
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    redis = worker = database = None
    app = None
    try:
        database = Database(workdir, args.postgres)
        redis, redis_url = start_redis(workdir)
        settings = {
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-routing-not-secret",
            "MAIL_OUTBOX": str(workdir / "outbox"),
        }
        worker_log = workdir / "worker.log"
        worker = Service(
            "celery worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],  # fmt: skip
            worker_log,
            {**os.environ, **settings},
        ).start()

        def ready() -> bool:
            worker.check_running()
            return "ready." in worker_log.read_text(errors="replace")

        wait_for(ready, 90, "the Celery worker to start")
        app = create_app(settings)
        n, m = args.referrals, max(10, args.referrals * UNLOADED_SHARE // 100)
        log(f"Celery worker ready ({args.concurrency} processes); preparing {2 * n + m:,} intakes ...")
        intakes = make_intakes(app, 2 * n + m + (100 if args.profile else 0), args.random_seed)
        actor = referral_staff(app)
        throughput = throughput_phase(app, intakes[:n], worker, actor)
        wait_queue_drained(redis_url, worker)
        latency = latency_phase(app, intakes[n : 2 * n], args.rate, worker, actor, args.submitters)
        wait_queue_drained(redis_url, worker)
        unloaded_rate = round(throughput.routed_per_second / 2, 1)
        log(f"  and at half the throughput measured, {unloaded_rate:g}/s:")
        unloaded = latency_phase(app, intakes[2 * n : 2 * n + m], unloaded_rate, worker, actor, args.submitters)
        wait_queue_drained(redis_url, worker)
        durations, notices = task_durations(worker_log), notification_tasks(worker_log)
        profile = profile_routing(app, intakes[2 * n + m :]) if args.profile else None
    finally:
        for service_ in (worker, redis):
            if service_ is not None:
                service_.stop()
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        if database is not None:
            database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    if profile:
        log(profile)
    command = " ".join(["python -m bench routing", *(sys.argv[2:] if argv is None else argv)])
    block = render(
        throughput,
        latency,
        unloaded,
        durations,
        command=command,
        started=started,
        seconds=time.perf_counter() - clock,
        args=args,
        notification_tasks=notices,
    )
    if args.output:
        write_section(args.output, NAME, wrap(NAME, block))
        log(f"Results written to {args.output}")
    print(block)


def _ms(values: np.ndarray, q: float) -> str:
    return f"{np.percentile(values, q) * 1000:,.0f}" if len(values) else "-"


def render(
    throughput: Phase,
    latency: Phase,
    unloaded: Phase,
    durations: np.ndarray,
    *,
    command: str,
    started: datetime,
    seconds: float,
    args: argparse.Namespace,
    notification_tasks: int | None = None,
) -> str:
    """The results block, as Markdown."""
    p99 = float(np.percentile(latency.latencies, 99)) if len(latency.latencies) else float("inf")
    database = "PostgreSQL" if args.postgres else "SQLite (a copy of the seed database, WAL mode)"
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min).",
        "",
        machine_line(),
        f"- Broker: a private redis-server on 127.0.0.1; one `celery -A tasks worker --concurrency "
        f"{args.concurrency}` (prefork: {args.concurrency} worker processes), on the same machine as the submitter "
        f"(phases 2 and 3: {args.submitters} threads); database: {database}, the seed directory",
        "",
        "| goal | measured | met |",
        "|---|---:|---|",
        f"| at least {GOAL_ROUTED_PER_SECOND:g} referrals routed per second | {throughput.routed_per_second:,.1f}/s "
        f"| {'yes' if throughput.routed_per_second >= GOAL_ROUTED_PER_SECOND else 'no'} |",
        f"| submit-to-first-offer p99 under {GOAL_P99_SECONDS:g} s (at {args.rate:g} submissions/s) | "
        f"{p99 * 1000:,.0f} ms | {'yes' if p99 < GOAL_P99_SECONDS else 'no'} |",
        "",
        "| phase | referrals | submitted in s | routed in s | routed/s | offered / unplaced / needs review "
        "| first offer p50 ms | p99 ms | max ms | routed p50 ms | routed p99 ms | worker CPU ms per referral "
        "| submitting CPU ms per referral |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    phases = (
        (throughput, "1: written first, then sent"),
        (latency, f"2: submitted at {args.rate:g}/s (reached {latency.referrals / latency.submit_seconds:.0f}/s)"),
        (unloaded, f"3: submitted at half of 1's routed/s ({unloaded.referrals / unloaded.submit_seconds:.0f}/s)"),
    )
    for phase, how in phases:
        counts = " / ".join(str(phase.statuses.get(s, 0)) for s in SETTLED)
        lines.append(
            f"| {how} | {phase.referrals:,} | {phase.submit_seconds:.1f} | {phase.seconds:.1f} | "
            f"{phase.routed_per_second:,.1f} | {counts} | {_ms(phase.latencies, 50)} | {_ms(phase.latencies, 99)} | "
            f"{_ms(phase.latencies, 100)} | {_ms(phase.routed_latencies, 50)} | {_ms(phase.routed_latencies, 99)} | "
            f"{phase.worker_cpu_seconds / phase.referrals * 1000:.1f} | "
            f"{phase.submit_cpu_seconds / phase.referrals * 1000:.1f} |"
        )
    lines += [
        "",
        f'Routing task run time in the worker (Celery\'s "succeeded in", {len(durations):,} tasks, all phases): '
        f"p50 {_ms(durations, 50)} ms, p99 {_ms(durations, 99)} ms, max {_ms(durations, 100)} ms. "
        "An offer's `created_at` is stamped when its task starts routing, so the offer is committed up to one "
        "task run time after it.",
    ]
    if notification_tasks is not None:
        routed = sum(p.referrals for p in (throughput, latency, unloaded))
        lines[-1] += (
            f" Notification tasks run by the worker (all phases): {notification_tasks:,}, "
            f"{notification_tasks / routed:.2f} per routed referral (each mails the notices one commit wrote to the "
            "outbox)."
        )
    return "\n".join(lines)
