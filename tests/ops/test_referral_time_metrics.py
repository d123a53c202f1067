"""/metrics' histograms of referrals' times, read from the database at each scrape: present from the
start, and counting an acceptance made by any process (here the test's own, as Celery's would be)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from directory.referrals.service import accept_offer, decline_offer
from tests.conftest import database_url, make_app
from tests.ops.helpers import sample
from tests.referrals.outcomes_scenario import build_cast, make_referral, open_offer

TOKEN = "metrics-token-for-tests"
HISTOGRAMS = (
    "directory_referral_time_to_first_offer_seconds",
    "directory_referral_time_to_first_answer_seconds",
    "directory_referral_time_to_acceptance_seconds",
    "directory_referral_days_to_admission",
)


@pytest.fixture
def app(tmp_path):
    # No embedded sweep: it would expire offers while a test scrapes.
    return make_app(database_url(tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"), METRICS_TOKEN=TOKEN,
                    EMBEDDED_SWEEP_SECONDS=10**12)  # fmt: skip


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_histograms_are_there_and_empty_at_first(client):
    body = scrape(client)
    for name in HISTOGRAMS:
        assert f"# TYPE {name} histogram" in body
        assert sample(body, f"{name}_count") == 0
        assert sample(body, f"{name}_bucket", le="+Inf") == 0


def test_an_accept_is_counted_in_its_buckets(client, session):
    cast = build_cast(session)
    made = datetime(2026, 11, 2, 9, 0)
    referral = make_referral(session, cast.sender_a, made, timedelta(minutes=2))
    before = scrape(client)
    assert sample(before, "directory_referral_time_to_first_offer_seconds_count") == 1
    assert sample(before, "directory_referral_time_to_first_offer_seconds_bucket", le="60.0") == 0
    assert sample(before, "directory_referral_time_to_first_offer_seconds_bucket", le="300.0") == 1
    assert sample(before, "directory_referral_time_to_acceptance_seconds_count") == 0

    decline_offer(session, open_offer(session, referral), cast.near_staff, "No bed", now=made + timedelta(minutes=10))
    accept_offer(session, open_offer(session, referral), cast.far_staff, date(2026, 11, 4),
                 now=made + timedelta(minutes=40))  # fmt: skip
    after = scrape(client)
    assert sample(after, "directory_referral_time_to_first_answer_seconds_count") == 1
    assert sample(after, "directory_referral_time_to_first_answer_seconds_sum") == 600
    acceptance = "directory_referral_time_to_acceptance_seconds"
    assert sample(after, f"{acceptance}_count") == 1
    assert sample(after, f"{acceptance}_sum") == 2400
    assert sample(after, f"{acceptance}_bucket", le="1800.0") == 0
    assert sample(after, f"{acceptance}_bucket", le="3600.0") == 1
    assert sample(after, "directory_referral_days_to_admission_bucket", le="1.0") == 0
    assert sample(after, "directory_referral_days_to_admission_bucket", le="2.0") == 1
    assert sample(after, "directory_referral_days_to_admission_sum") == 2
