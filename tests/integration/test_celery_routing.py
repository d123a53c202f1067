"""Routing through a real Redis and a real Celery worker (subprocesses), on a real database file.

Each test starts its own redis-server on a free port, so it can stop and restart it.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directory.accounts.service import create_user
from directory.extensions import db
from directory.models import CenterAttribute, Offer, Referral, User
from directory.models.base import utcnow
from directory.referrals import dispatch
from directory.referrals.intake import validate_intake
from directory.referrals.notifications import OFFER_SUBJECT, STATUS_SUBJECT
from directory.referrals.service import submit_referral
from directory.routing.ranking import DETOX_CODES, NALTREXONE_CODES
from tests.conftest import copy_of_seeded, make_app
from tests.factories import days_from_today
from tests.integration.services import Worker, start_redis, wait_for

pytestmark = pytest.mark.integration

SETTLED = ("offered", "unplaced", "needs_review")
PLACES = ["10001", "02139", "60601", "Denver, CO", "94103", "Atlanta, GA", "Seattle, WA", "33101", "Rapid City, SD"]


def intake(n: int) -> dict:
    return {
        "client_reference": f"SECRET-REF-{n:05d}",
        "contact_phone": "(555) 867-5309",
        "location": PLACES[n % len(PLACES)],
        "max_distance_miles": 60,
        "payment": ("medicaid", "self_pay", "private_insurance")[n % 3],
        "primary_opioid": ("heroin", "fentanyl", "oxycodone", "methadone")[n % 4],
        "last_opioid_use": "2026-11-18T08:00:00Z",
        "liver_disease": ("no", "yes", "unknown")[n % 3],
        "on_opioid_pain_therapy": n % 17 == 0,
        "interacting_medications": ["alcohol"] if n % 5 == 0 else [],
        "consent": {
            "granted": True,
            "recipients": "Treatment centers",
            "purpose": "Referral",
            "expires_on": days_from_today(180),
        },
    }


@pytest.fixture
def routing_app(seeded_database, tmp_path, redis_url):
    app = make_app(copy_of_seeded(seeded_database, tmp_path), REDIS_URL=redis_url, MAIL_OUTBOX=str(tmp_path / "outbox"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker(routing_app, tmp_path):
    w = Worker(routing_app, tmp_path / "worker.log")
    w.start()
    yield w
    w.stop()


def submit_many(app, numbers, *, send: bool = True, actor_id: int | None = None) -> list[str]:
    """Submit intakes the way the web layer does: commit, then send the outbox rows."""
    ids = []
    with app.app_context():
        geocoder = app.extensions["geocoder"]
        for n in numbers:
            actor = db.session.get(User, actor_id) if actor_id else None
            referral = submit_referral(db.session, validate_intake(intake(n), geocoder, utcnow()), actor)
            ids.append(referral.id)
        if send:
            dispatch.send_pending()
    return ids


def send_outbox(app) -> None:
    with app.app_context():
        dispatch.send_pending()


def statuses(app, ids) -> Counter:
    with app.app_context():
        db.session.expire_all()
        rows = db.session.execute(select(Referral.id, Referral.status).where(Referral.id.in_(ids))).all()
        return Counter(status for _, status in rows)


def wait_settled(app, ids, seconds=240) -> Counter:
    wait_for(lambda: sum(statuses(app, ids)[s] for s in SETTLED) == len(ids), seconds, "every referral to be routed")
    return statuses(app, ids)


def assert_no_duplicate_offers(app) -> None:
    with app.app_context():
        per_referral = db.session.execute(
            select(Offer.referral_id, Offer.step, func.count()).group_by(Offer.referral_id, Offer.step)
        ).all()
        open_offers = db.session.execute(
            select(Offer.referral_id, func.count()).where(Offer.status == "offered").group_by(Offer.referral_id)
        ).all()
    assert all(count == 1 for _, _, count in per_referral), "one detox offer per referral after first routing"
    assert all(count == 1 for _, count in open_offers)


def notification_tasks(worker) -> Counter:
    """The notification tasks the worker finished, by name (from its log)."""
    return Counter(re.findall(r"Task (tasks\.notifications\.\w+)\[[^\]]+\] succeeded", worker.log.read_text()))


def mailed(app) -> Counter:
    """The messages in the outbox folder, by (recipient, subject)."""
    messages = Counter()
    for path in Path(app.config["MAIL_OUTBOX"]).glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        messages[(message["To"], message["Subject"])] += 1
    return messages


def test_200_referrals_are_all_routed_and_mailed_about(routing_app, worker):
    with routing_app.app_context():
        sender = create_user(db.session, "sender@example.org", "referral_staff")
        offerable = select(CenterAttribute.center_id).where(CenterAttribute.code.in_(DETOX_CODES | NALTREXONE_CODES))
        staff = create_user(db.session, "staff@example.org", "center_staff", set(db.session.scalars(offerable)))
        db.session.commit()
        sender_id, staff_id = sender.id, staff.id
    ids = submit_many(routing_app, range(200), actor_id=sender_id)
    counts = wait_settled(routing_app, ids)
    print(f"\n200 referrals: {dict(counts)}")
    assert sum(counts[s] for s in SETTLED) == 200
    assert counts["offered"] > 100 and counts["needs_review"] > 0
    assert_no_duplicate_offers(routing_app)
    # Each routed referral's new status reaches its sender, and each offer its center's staff,
    # exactly once; each routing's notices go in one task message.
    with routing_app.app_context():
        offers = db.session.scalar(select(func.count()).select_from(Offer))
        assert db.session.get(User, staff_id).centers  # the staff account is linked to the offered centers
    expected = Counter({("sender@example.org", STATUS_SUBJECT): 200, ("staff@example.org", OFFER_SUBJECT): offers})
    wait_for(lambda: mailed(routing_app) == expected, 60, "every notice to be mailed")
    time.sleep(0.5)
    assert mailed(routing_app) == expected
    deliveries = notification_tasks(worker)
    print(f"notification tasks: {dict(deliveries)}")
    assert set(deliveries) == {"tasks.notifications.deliver_notices"}
    assert deliveries["tasks.notifications.deliver_notices"] <= 200


def test_worker_killed_mid_routing_loses_and_duplicates_nothing(routing_app, worker):
    ids = submit_many(routing_app, range(300), send=False)
    sender = threading.Thread(target=send_outbox, args=(routing_app,))
    sender.start()  # the tasks go out while the worker is already routing
    wait_for(lambda: statuses(routing_app, ids)["received"] < 295, 60, "routing to begin", interval=0.02)
    worker.kill()
    sender.join()
    left = statuses(routing_app, ids)
    assert left["received"] + left["routing"] > 0, f"the worker was killed after routing everything: {dict(left)}"
    worker.start()

    def routed_or_resent() -> bool:
        # What `celery beat` runs (tasks.routing.dispatch_outbox), with a short re-send delay:
        # the killed worker's messages stay unacknowledged until the visibility timeout.
        with routing_app.app_context():
            dispatch.send_pending(stale_after=timedelta(seconds=10))
        return sum(statuses(routing_app, ids)[s] for s in SETTLED) == len(ids)

    wait_for(routed_or_resent, 240, "every referral to be routed after the restart")
    counts = statuses(routing_app, ids)
    print(f"\nafter SIGKILL at {dict(left)}: {dict(counts)}")
    assert sum(counts[s] for s in SETTLED) == 300
    assert_no_duplicate_offers(routing_app)


def test_redis_down_at_submit_routes_once_back(routing_app, worker, tmp_path):
    server = start_redis.current  # the server started by the redis_url fixture
    server.stop()
    ids = submit_many(routing_app, range(5))  # answers at once; the outbox keeps the messages
    assert statuses(routing_app, ids)["received"] == 5
    server.start()
    with routing_app.app_context():
        wait_for(lambda: dispatch.send_pending() >= 0 and statuses(routing_app, ids)["received"] == 0, 120,
                 "routing after Redis came back")  # fmt: skip
    counts = wait_settled(routing_app, ids)
    assert sum(counts[s] for s in SETTLED) == 5
    assert_no_duplicate_offers(routing_app)


def test_redis_traffic_carries_no_personal_data(routing_app, worker, redis_url):
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    monitor = subprocess.Popen(["redis-cli", "-p", port, "monitor"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        ids = submit_many(routing_app, [7])
        wait_settled(routing_app, ids, 60)
        time.sleep(0.5)
    finally:
        monitor.terminate()
    raw = monitor.communicate(timeout=10)[0].decode("utf-8", "replace")
    # Celery base64-encodes message bodies: decode every base64-looking run so nothing hides there.
    decoded = []
    for token in re.findall(r"[A-Za-z0-9+/=]{16,}", raw.replace("\\", "")):
        with contextlib.suppress(ValueError):
            decoded.append(base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace"))
    traffic = raw + "\n".join(decoded)
    assert any(ids[0] in text for text in decoded), "the decoded message body carries the referral id"
    assert "tasks.routing.route_referral" in traffic
    for secret in ("SECRET-REF-00007", "867-5309", "8675309", "(555)", "oxycodone", "heroin", "methadone",
                   "fentanyl", "liver_disease", "Treatment centers", "client_reference", "60601"):  # fmt: skip
        assert secret not in traffic, secret
