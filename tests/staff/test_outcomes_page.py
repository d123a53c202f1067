"""The referral outcomes page and its CSV: who may see them, whose referrals they count, nothing personal."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta

import pytest

from directory.models.base import utcnow
from directory.referrals.service import accept_offer, decline_offer
from directory.staff.views import _spreadsheet_safe
from tests.ops.helpers import sign_in
from tests.referrals.outcomes_scenario import PERSONAL_REASON, build_cast, make_referral, open_offer

PERSONAL = ("CASE-SECRET", "555-0177", "J.S.")


@pytest.fixture
def cast(session):
    """Two referrals of the last few hours (the page reads the real clock): sender A's near Chicago,
    declined by one center and accepted 20 minutes after it was made; sender B's near Anchorage, not placed."""
    cast = build_cast(session)
    now = utcnow()
    made = now - timedelta(hours=3)
    mine = make_referral(session, cast.sender_a, made)
    decline_offer(session, open_offer(session, mine), cast.near_staff, PERSONAL_REASON, now=made)
    accept_offer(session, open_offer(session, mine), cast.far_staff, made.date(), now=made + timedelta(minutes=20))
    make_referral(session, cast.sender_b, now - timedelta(hours=1), location="99501")
    return cast


def get(app, user, path="/referrals/outcomes"):
    """The page as `user` sees it (None: signed out), from a client of its own."""
    client = app.test_client()
    if user is not None:
        sign_in(client, user)
    return client.get(path)


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def made_by_outcome(rows: list[dict[str, str]]) -> Counter[str]:
    made: Counter[str] = Counter()
    for row in rows:
        if row["metric"] == "referrals_made":
            made[row["group"]] += int(row["value"])
    return made


@pytest.mark.parametrize("path", ["/referrals/outcomes", "/referrals/outcomes.csv"])
def test_center_staff_are_refused_and_the_public_sent_to_sign_in(app, cast, path):
    response = get(app, None, path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert get(app, cast.near_staff, path).status_code == 403


def test_referral_staff_see_only_their_own_referrals(app, cast):
    response = get(app, cast.sender_b)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your referrals" in page and "Alaska" in page
    assert "No center declined a referral in these weeks." in page  # sender A's referral was declined, not B's
    assert '<title id="acceptance-chart-title">' in page
    assert 'aria-labelledby="volume-chart-title volume-chart-desc"' in page
    page_a = get(app, cast.sender_a).get_data(as_text=True)
    assert "Alaska" not in page_a and "Other reasons" in page_a
    assert 'aria-label="Administration"' not in page_a


def test_admins_see_everyones_and_the_admin_navigation(app, cast):
    page = get(app, cast.admin).get_data(as_text=True)
    assert "All referrals" in page and "Alaska" in page and 'aria-label="Administration"' in page
    assert "2 referrals in 12 weeks: placed 1, still being routed 0, not placed 1" in page
    for personal in PERSONAL:
        assert personal not in page


def test_the_csv_holds_the_figures_of_the_page(app, cast):
    response = get(app, cast.admin, "/referrals/outcomes.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="referral-outcomes-')
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == "week,metric,group,value"
    rows = read_csv(response)
    assert made_by_outcome(rows) == Counter(placed=1, unplaced=1, open=0, needs_review=0, cancelled=0)
    assert len({row["week"] for row in rows}) == 12
    medians = [row for row in rows if row["metric"] == "time_to_acceptance_minutes" and row["group"] == "median"]
    assert [float(row["value"]) for row in medians] == [20.0]
    assert [row["group"] for row in rows if row["metric"] == "declines"] == ["Other reasons"]
    assert [row["group"] for row in rows if row["metric"] == "unplaced_referrals"] == ["AK"]
    for personal in PERSONAL:
        assert personal not in text


def test_a_senders_csv_counts_their_referrals_only(app, cast):
    rows = read_csv(get(app, cast.sender_b, "/referrals/outcomes.csv"))
    assert made_by_outcome(rows) == Counter(unplaced=1, placed=0, open=0, needs_review=0, cancelled=0)
    assert not [row for row in rows if row["metric"] == "declines"]


@pytest.mark.parametrize(
    ("text", "cell"),
    [('=HYPERLINK("x")', '\'=HYPERLINK("x")'), ("+1", "'+1"), ("-", "'-"), ("@x", "'@x"), ("No bed", "No bed")],
)
def test_csv_cells_never_run_as_formulas(text, cell):
    assert _spreadsheet_safe(text) == cell


def test_the_navigation_links_the_page(app, cast):
    for user in (cast.sender_a, cast.admin):
        assert 'href="/referrals/outcomes"' in get(app, user, "/referrals/").get_data(as_text=True)
    assert 'href="/referrals/outcomes"' not in get(app, cast.near_staff, "/portal/").get_data(as_text=True)
