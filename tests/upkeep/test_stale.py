"""The stale-listings dashboard: listings not confirmed for 90 days, most seen (profile views in 30 days
plus referral offers in 90) first, then by name, paged; profile views counted per center and day;
and migration 0016 up and down."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, select, text, update

from directory import schema
from directory.extensions import db
from directory.models import Center, ProfileViews
from directory.models.base import utcnow
from directory.referrals.intake import validate_intake
from directory.referrals.service import submit_referral
from directory.upkeep import confirmations, exposure, reports
from tests.factories import add_centers, center_record
from tests.hostile.conftest import intake
from tests.portal.conftest import sign_in
from tests.public.pages import Page

NOW = utcnow()


def views_of(store, center_id: int) -> dict:
    with store.session() as session:
        rows = session.execute(select(ProfileViews.day, ProfileViews.views).where(ProfileViews.center_id == center_id))
        return dict(rows.all())


def test_each_profile_view_adds_one_to_the_centers_count_for_the_day(client, store, cast):
    for _ in range(3):
        assert client.get(f"/centers/{cast.a.slug}").status_code == 200
    client.get(f"/centers/{cast.b.slug}")
    client.get("/search?near=60601")  # searches are not counted
    assert views_of(store, cast.a.id) == {utcnow().date(): 3}
    assert views_of(store, cast.b.id) == {utcnow().date(): 1}
    with store.session() as session:
        exposure.count_profile_view(session, cast.a.id, utcnow().date() - timedelta(days=1))
        session.commit()
    assert sorted(views_of(store, cast.a.id).values()) == [1, 3]


def _stale_world(store) -> dict[str, int]:
    """Six listings: four stale with different exposure, one confirmed lately, one confirmed long ago."""
    with store.session() as session:
        names = ["Quiet", "Viewed", "Offered", "Both", "Fresh", "Old views"]
        add_centers(session, *[center_record(external_id=f"test:{n}", name=n) for n in names])
        ids = dict(session.execute(select(Center.name, Center.id)).all())
        for name, age in [("Fresh", 10), ("Both", 200)]:
            confirmed = NOW - timedelta(days=age)
            session.execute(update(Center).where(Center.id == ids[name]).values(last_verified_at=confirmed))
        today = NOW.date()
        for name, day, views in [
            ("Viewed", today, 4),
            ("Viewed", today - timedelta(days=29), 1),
            ("Both", today, 2),
            ("Fresh", today, 50),
            ("Old views", today - timedelta(days=31), 100),  # outside the 30 days
        ]:
            session.add(ProfileViews(center_id=ids[name], day=day, views=views))
        session.commit()
        reports.file_report(session, ids["Quiet"], "closed", None, now=NOW)
        session.commit()
    return ids


def _offer(session, center_id: int, referral_id: str, created_at, step: str = "detox") -> None:
    session.execute(
        text(
            "INSERT INTO offers (referral_id, center_id, step, rank, status, why, distance_miles,"
            " created_at, expires_at) VALUES (:r, :c, :s, 1, 'declined', '[]', 1.0, :at, :at)"
        ),
        {"r": referral_id, "c": center_id, "s": step, "at": created_at},
    )


def test_stale_listings_are_ordered_by_views_and_offers_then_name(app, store, cast):
    ids = _stale_world(store)
    with store.session() as session:
        person = validate_intake(intake(), app.extensions["geocoder"], utcnow())
        referral = submit_referral(session, person, cast.referral)
        for n, center in enumerate(["Offered", "Offered", "Offered", "Both", "Old views"]):
            age = timedelta(days=100) if center == "Old views" else timedelta(days=n)
            _offer(session, ids[center], referral.id, NOW - age, step=f"s{n}")
        session.commit()
        page = exposure.stale_listings(session, now=NOW, page=1, per_page=50)
    got = [(s.name, s.views, s.offers, s.open_reports) for s in page.listings]
    assert got == [
        ("Viewed", 5, 0, 0),
        ("Both", 2, 1, 0),
        ("Offered", 0, 3, 0),
        ("Alpha Recovery", 0, 0, 0),
        ("Beta House", 0, 0, 0),
        ("Old views", 0, 0, 0),
        ("Quiet", 0, 0, 1),
    ]
    assert (page.page, page.pages, page.total) == (1, 1, 7)


def test_the_dashboard_page_shows_them_paged_to_admins(app, client, store, cast):
    _stale_world(store)
    sign_in(client, cast.admin)
    page = Page(client.get("/admin/stale").data)
    table = page.text.split("Last asked to confirm", 1)[1]
    assert table.index("Viewed") < table.index("Both") < table.index("Offered") < table.index("Quiet")
    assert "Stale listings" in page.text and "(7)" in page.text
    assert "/admin/stale" in [link.href for link in Page(client.get("/admin/").data).links]

    with app.app_context():
        one = exposure.stale_listings(db.session, now=NOW, page=2, per_page=3)
        last = exposure.stale_listings(db.session, now=NOW, page=99, per_page=3)
    assert [s.name for s in one.listings] == ["Beta House", "Offered", "Old views"]  # no offers here
    assert (last.page, [s.name for s in last.listings]) == (3, ["Quiet"])
    assert client.get("/admin/stale?page=2").status_code == 200
    assert client.get("/admin/stale?page=abc").status_code == 200


def test_migration_0016_goes_down_and_up_again(app, client, store, cast):
    client.get(f"/centers/{cast.a.slug}")
    client.post(f"/centers/{cast.a.slug}/report", data={"reason": "closed"})
    with app.app_context():
        confirmations.request_confirmations(db.session, now=NOW)
        engine = db.engine
        db.session.close()
        schema.downgrade(engine, "0015")
        tables = set(inspect(engine).get_table_names())
        assert not {"listing_reports", "center_profile_views"} & tables
        outbox = {c["name"]: c for c in inspect(engine).get_columns("outbox")}
        assert "center_id" not in outbox and outbox["referral_id"]["nullable"] is False
        with engine.connect() as connection:
            columns = list(connection.execute(text("SELECT * FROM centers LIMIT 0")).keys())
            assert "confirmation_requested_at" not in columns
            assert connection.scalar(text("SELECT count(*) FROM centers")) == 2
        schema.upgrade(engine)
        assert schema.is_current(engine)
    # Still works after the round trip.
    assert client.post(f"/centers/{cast.a.slug}/report", data={"reason": "closed"}).status_code == 302
    assert client.get(f"/centers/{cast.a.slug}").status_code == 200
