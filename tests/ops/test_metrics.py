"""The Prometheus endpoint: who may read it, and what it counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from directory.extensions import db
from directory.models import Center, OutboxMessage, Referral
from directory.models.base import utcnow
from directory.referrals.intake import validate_intake
from directory.referrals.service import cancel_referral, route_referral, submit_referral
from directory.search.geocoding import OfflineGeocoder
from tests.conftest import make_app, sqlite_url
from tests.factories import add_centers, center_record, make_user
from tests.ops.helpers import sample, sign_in

TOKEN = "metrics-token-for-tests"
METRIC_NAMES = [
    "directory_http_request_duration_seconds",
    "directory_search_duration_seconds",
    "directory_referrals",
    "directory_outbox_backlog",
    "directory_outbox_oldest_undispatched_age_seconds",
    "directory_offers_expiring_within_hour",
]


@pytest.fixture
def app(tmp_path):
    # No embedded sweep: it would send the outbox and expire offers while a test scrapes.
    return make_app(sqlite_url(tmp_path, "test"), MAIL_OUTBOX=str(tmp_path / "outbox"),
                    METRICS_TOKEN=TOKEN, EMBEDDED_SWEEP_SECONDS=10**12)  # fmt: skip


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("role", [None, "referral_staff", "center_staff"])
def test_metrics_are_hidden_from_the_public_and_non_admins(client, session, role):
    if role:
        centers = ()
        if role == "center_staff":
            add_centers(session, center_record(name="Their Center"))
            centers = session.scalars(select(Center)).all()
        sign_in(client, make_user(session, role, centers))
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Basic {TOKEN}", "Bearer ", TOKEN])
def test_a_wrong_token_gets_404(client, header):
    assert client.get("/metrics", headers={"Authorization": header}).status_code == 404


def test_the_token_opens_the_metrics(client):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in body


def test_an_admin_sees_the_metrics(client, session):
    sign_in(client, make_user(session, "admin"))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "directory_referrals" in response.get_data(as_text=True)


def test_without_a_configured_token_only_admins_get_in(tmp_path):
    app = make_app(sqlite_url(tmp_path, "other"), METRICS_TOKEN=None)
    client = app.test_client()
    for header in ("Bearer ", "Bearer None", "Bearer null"):
        assert client.get("/metrics", headers={"Authorization": header}).status_code == 404
    with app.app_context():
        admin = make_user(db.session, "admin")
    sign_in(client, admin)
    assert client.get("/metrics").status_code == 200


def test_request_latency_is_labelled_by_endpoint_not_path(client):
    client.get("/healthz")
    client.get("/centers/no-such-center?near=60601")
    client.get("/no/such/page")
    body = scrape(client)
    labels = {"method": "GET", "status": "200"}
    assert sample(body, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", **labels) == 1
    assert sample(body, "directory_http_request_duration_seconds_count", endpoint="public.center_profile",
                  method="GET", status="404") == 1  # fmt: skip
    assert sample(body, "directory_http_request_duration_seconds_count", endpoint="unmatched",
                  method="GET", status="404") == 1  # fmt: skip
    assert "no-such-center" not in body and "60601" not in body and "/no/such" not in body


def test_the_search_histogram_counts_searches(client, session):
    add_centers(session, center_record(name="Near Clinic"))
    assert client.get("/search?near=60601").status_code == 200
    assert client.get("/api/v1/centers/search?near=60601").status_code == 200
    assert client.get("/search?near=").status_code == 400  # no search ran
    body = scrape(client)
    assert sample(body, "directory_search_duration_seconds_count", endpoint="public.search") == 1
    assert sample(body, "directory_search_duration_seconds_count", endpoint="api.search_centers") == 1


def _intake(now, **overrides):
    data = {
        "client_reference": "CASE-7",
        "location": "60601",
        "max_distance_miles": 50,
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (now - timedelta(hours=14)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": "no",
        "on_opioid_pain_therapy": False,
        "consent": {"granted": True, "recipients": "Centers", "purpose": "Referral",
                    "expires_on": (now + timedelta(days=180)).date().isoformat()},
    }  # fmt: skip
    data.update(overrides)
    return validate_intake(data, OfflineGeocoder(), now)


def test_referral_and_outbox_gauges_match_the_database(client, session):
    add_centers(session, center_record(name="Detox", levels_of_care=["medical_detox"], payment_options=["medicaid"]))
    staff = make_user(session, "referral_staff")
    now = utcnow()
    # Routed 3.5 hours ago: its offer (4-hour TTL) expires within the hour.
    offered = submit_referral(session, _intake(now), staff, now=now - timedelta(hours=4))
    assert route_referral(session, offered.id, now=now - timedelta(hours=3, minutes=30)) == "offered"
    review = submit_referral(session, _intake(now, on_opioid_pain_therapy=True, client_reference="CASE-8"), staff,
                             now=now - timedelta(hours=1))  # fmt: skip
    assert route_referral(session, review.id, now=now) == "needs_review"
    submit_referral(session, _intake(now, client_reference="CASE-9"), staff, now=now)
    cancelled = submit_referral(session, _intake(now, client_reference="CASE-10"), staff, now=now)
    cancel_referral(session, cancelled.id, staff, "Placed elsewhere")

    body = scrape(client)
    session.expire_all()
    counts = dict(session.execute(select(Referral.status, func.count()).group_by(Referral.status)).all())
    assert counts == {"offered": 1, "needs_review": 1, "received": 1, "cancelled": 1}
    for status in ("received", "routing", "offered", "accepted", "needs_review", "cancelled", "unplaced"):
        assert sample(body, "directory_referrals", status=status) == counts.get(status, 0), status
    backlog = session.scalar(select(func.count()).where(OutboxMessage.dispatched_at.is_(None)))
    assert backlog and sample(body, "directory_outbox_backlog") == backlog
    oldest = sample(body, "directory_outbox_oldest_undispatched_age_seconds")
    assert 4 * 3600 - 5 <= oldest <= 4 * 3600 + 60
    assert sample(body, "directory_offers_expiring_within_hour") == 1


def test_empty_database_gauges_are_zero(client):
    body = scrape(client)
    assert sample(body, "directory_referrals", status="received") == 0
    assert sample(body, "directory_outbox_backlog") == 0
    assert sample(body, "directory_outbox_oldest_undispatched_age_seconds") == 0
    assert sample(body, "directory_offers_expiring_within_hour") == 0


def test_each_app_has_its_own_registry(tmp_path, client):
    client.get("/healthz")
    other = make_app(sqlite_url(tmp_path, "other"), METRICS_TOKEN=TOKEN).test_client()
    body = scrape(other)
    assert sample(body, "directory_http_request_duration_seconds_count", endpoint="ops.healthz",
                  method="GET", status="200") is None  # fmt: skip
