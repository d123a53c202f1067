"""One listing per real place, newest source first: imports match new sites to the listing of the
same place from an older source, and a covering import supersedes the older listings it no longer
has; superseded listings leave search and routing, keep their profile, and an admin can restore them."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from directory.models import AuditEvent, Center, FormerExternalId
from directory.models.base import utcnow
from directory.referrals.service import load_candidates
from directory.sources import import_file
from directory.sources.loader import ImportReport, import_rows
from directory.sources.matching import name_similarity, normalize_name, normalize_street
from directory.sources.records import CenterRecord, ImportIssue, ParsedRow
from directory.sources.supersession import parse_covers
from tests.factories import center_record, login, make_user
from tests.sources.helpers import findtreatment_row, run_import, write_rows

OLD = {"source": "samhsa-nssats-2015", "source_vintage": 2015}
NEW = {"source": "findtreatment-gov", "source_vintage": 2025, "source_date": date(2025, 8, 19)}
CHELSEA = {"city": "Chelsea", "state": "MA", "zip": "02150", "latitude": 42.3910401, "longitude": -71.0366372}
METERS_NORTH = 1 / 111_000  # degrees of latitude in a meter, near enough


def old(n: str, **fields) -> CenterRecord:
    return center_record(external_id=f"samhsa-nssats-2015:{n}", **{**OLD, **CHELSEA, **fields})


def new(n: str, **fields) -> CenterRecord:
    return center_record(external_id=f"findtreatment-gov:{n}", **{**NEW, **CHELSEA, **fields})


def load(session, *records: CenterRecord | None, covers: str = "", dry_run: bool = False) -> ImportReport:
    """Import records (None: an invalid row) through the real loader, as one file."""
    rows = [
        ParsedRow(k + 2, r, [] if r else [ImportIssue("test", k + 2, "state", "XX", "is not a US state")])
        for k, r in enumerate(records)
    ]
    return import_rows(session, rows, "test", dry_run=dry_run, covers=parse_covers(covers) if covers else frozenset())


def centers(session) -> dict[str, Center]:
    session.expire_all()
    return {c.name: c for c in session.scalars(select(Center))}


def by_external_id(session) -> dict[str, Center]:
    session.expire_all()
    return {c.external_id: c for c in session.scalars(select(Center))}


def snapshot(session) -> list[tuple]:
    session.expire_all()
    rows = session.execute(select(Center.__table__).order_by(Center.id)).all()
    return [tuple(v for k, v in row._mapping.items() if k != "updated_at") for row in rows]


# -- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [("Harbor House, Inc.", "harbor house"), ("Bay Cove & Sons LLC", "bay cove and sons"), ("The Ctr", "center")],
)
def test_names_normalise(a, b):
    assert normalize_name(a) == b


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("12 Main Street, Suite 4", "12 main st ste 4"),
        ("12 Main St. #4", "12 main st ste 4"),
        ("9 Forbes Road", "9 forbes rd"),
    ],
)
def test_streets_normalise(a, b):
    assert normalize_street(a) == b


def test_real_renamed_pairs_are_similar_and_neighbours_are_not():
    same = name_similarity(("North Suffolk Community Services", "Meridian House"),
                           ("North Suffolk Mental Hlth Association", "Meridian House"))  # fmt: skip
    neighbours = name_similarity(("Arbour Counseling Services", None), ("CleanSlate Centers", "Worcester"))
    assert same >= 80 > neighbours


def test_exact_match_updates_the_listing_in_place(session):
    load(session, old("1", name="Harbor House Inc", street1="12 Main St."))
    before = centers(session)["Harbor House Inc"]
    far_geocode = {"latitude": CHELSEA["latitude"] + 500 * METERS_NORTH}  # the same address, geocoded elsewhere
    report = load(session, new("A", name="Harbor House, Inc.", street1="12 Main Street", phone="(617) 555-0101",
                               **far_geocode))  # fmt: skip

    assert (report.matched, report.created) == (1, 0)
    [listing] = centers(session).values()
    assert (listing.id, listing.slug) == (before.id, before.slug)
    assert listing.external_id == "findtreatment-gov:A" and listing.phone == "(617) 555-0101"
    assert (listing.source, listing.source_vintage, listing.source_date) == (
        "findtreatment-gov",
        2025,
        date(2025, 8, 19),
    )
    assert session.scalars(select(FormerExternalId.external_id)).all() == ["samhsa-nssats-2015:1"]
    [matched] = [o for o in report.outcomes if o.outcome == "matched"]
    assert matched.line == 2 and "samhsa-nssats-2015:1" in matched.why


def test_a_near_site_with_a_similar_name_and_no_street_is_matched(session):
    load(session, old("1", name="North Suffolk Mental Hlth Association", alt_name="Meridian House"))
    report = load(session, new("A", name="North Suffolk Community Services", alt_name="Meridian House",
                               street1=None, latitude=CHELSEA["latitude"] + 7 * METERS_NORTH))  # fmt: skip
    assert (report.matched, report.created) == (1, 0)
    assert [c.external_id for c in centers(session).values()] == ["findtreatment-gov:A"]


def test_a_source_without_streets_keeps_the_street_of_the_listing_it_matches(session, tmp_path):
    load(session, old("1", name="Harbor House", street1="12 Main St", city="Chelsea", state="MA", zip="02150"))
    pull = write_rows(
        tmp_path / "pull.csv",
        "findtreatment",
        findtreatment_row(Name="Harbor House", Address="", City="Chelsea", State="MA", ZIP="02150",
                          Latitude=str(CHELSEA["latitude"]), Longitude=str(CHELSEA["longitude"])),
    )  # fmt: skip

    first = import_file(session, pull, "findtreatment")
    second = import_file(session, pull, "findtreatment")

    assert (first.matched, second.unchanged) == (1, 1)
    [listing] = centers(session).values()
    assert (listing.source, listing.street1) == ("findtreatment-gov-2025", "12 Main St")


def test_a_near_site_with_another_name_is_a_new_listing(session):
    load(session, old("1", name="Arbour Counseling Services", street1="411 Chandler Street"))
    report = load(session, new("A", name="CleanSlate Centers", alt_name="Worcester", street1="411 Chandler Street",
                               latitude=CHELSEA["latitude"] + 4 * METERS_NORTH))  # fmt: skip
    assert (report.matched, report.created) == (0, 1)
    assert len(centers(session)) == 2


def test_the_same_name_far_away_is_a_new_listing(session):
    load(session, old("1", name="Harbor House", street1="12 Main Street"))
    report = load(session, new("A", name="Harbor House", street1="90 Broadway",
                               latitude=CHELSEA["latitude"] + 3000 * METERS_NORTH))  # fmt: skip
    assert (report.matched, report.created) == (0, 1)


def test_a_listing_matches_one_row_only_the_nearest(session):
    load(session, old("1", name="Harbor House", street1=None))
    report = load(
        session,
        new("far", name="Harbor House", street1=None, latitude=CHELSEA["latitude"] + 60 * METERS_NORTH),
        new("near", name="Harbor House", street1=None, latitude=CHELSEA["latitude"] + 10 * METERS_NORTH),
    )
    assert (report.matched, report.created, report.count("tie")) == (1, 1, 0)
    assert (
        by_external_id(session)["findtreatment-gov:near"].id == 1
    )  # the listing kept its id, matched to the nearer row


def test_two_rows_as_good_as_each_other_are_reported_as_a_tie(session):
    load(session, old("1", name="Harbor House", street1=None))
    report = load(session, new("A", name="Harbor House", street1=None), new("B", name="Harbor House", street1=None))
    assert (report.matched, report.created) == (1, 1)
    [tie] = [o for o in report.outcomes if o.outcome == "tie"]
    assert (tie.line, tie.external_id) == (3, "findtreatment-gov:B") and "line 2" in tie.why


def test_a_row_from_an_older_source_does_not_take_a_newer_listing(session):
    load(session, new("A", name="Harbor House", street1="12 Main Street"))
    report = load(session, old("1", name="Harbor House", street1="12 Main Street"))
    assert (report.matched, report.created) == (0, 1)
    assert sorted(by_external_id(session)) == ["findtreatment-gov:A", "samhsa-nssats-2015:1"]


def test_a_match_keeps_the_centers_own_edits(session):
    load(session, old("1", name="Harbor House", street1="12 Main Street", phone="(617) 555-0100"))
    listing = centers(session)["Harbor House"]
    listing.center_edited_at = utcnow()
    session.commit()
    report = load(session, new("A", name="Harbor House", street1="12 Main Street", phone="(617) 555-0199"))
    assert report.matched == 1
    listing = centers(session)["Harbor House"]
    assert listing.phone == "(617) 555-0100" and listing.external_id == "findtreatment-gov:A"
    assert listing.source_date == date(2025, 8, 19)


def test_importing_the_older_source_again_leaves_out_the_rows_matched_since(session):
    first = old("1", name="Harbor House", street1="12 Main Street")
    load(session, first)
    load(session, new("A", name="Harbor House", street1="12 Main Street"))
    report = load(session, first)
    assert (report.created, report.updated, report.count("left out")) == (0, 0, 1)
    assert len(centers(session)) == 1


# -- supersession ---------------------------------------------------------------------------------


def two_states(session) -> None:
    load(
        session,
        old("kept", name="Harbor House", street1="12 Main Street"),
        old("gone", name="Closed Program", street1="3 Elm Street"),
        old("ri", name="Providence Program", state="RI", zip="02903", latitude=41.82, longitude=-71.41),
        center_record(external_id="other:1", name="Newer Elsewhere", source="other", source_vintage=2026, **CHELSEA),
    )


def test_a_covering_import_supersedes_the_older_listings_it_no_longer_has_in_its_states_only(session):
    two_states(session)
    report = load(session, new("A", name="Harbor House", street1="12 Main Street"), covers="MA")

    assert report.written and report.matched == 1
    assert [(o.outcome, o.name, o.why) for o in report.outcomes if o.outcome == "superseded"] == [
        ("superseded", "Closed Program", "Not in FindTreatment.gov, 19 August 2025")
    ]
    listings = centers(session)
    gone = listings["Closed Program"]
    assert gone.superseded_at is not None and gone.superseded_by == "findtreatment-gov"
    assert gone.superseded_by_date == date(2025, 8, 19)
    assert listings["Providence Program"].superseded_at is None  # RI is not covered
    assert listings["Newer Elsewhere"].superseded_at is None  # another source, newer than the file
    assert listings["Harbor House"].superseded_at is None


def test_without_covers_nothing_is_superseded(session):
    two_states(session)
    report = load(session, new("A", name="Harbor House", street1="12 Main Street"))
    assert report.matched == 1 and report.count("superseded") == 0
    assert all(c.superseded_at is None for c in centers(session).values())


def test_listings_their_center_confirmed_recently_are_kept(session):
    two_states(session)
    confirmed = centers(session)["Closed Program"]
    confirmed.last_verified_at = utcnow() - timedelta(days=30)
    session.commit()
    report = load(session, new("A", name="Harbor House", street1="12 Main Street"), covers="MA")
    [kept] = [o for o in report.outcomes if o.outcome == "kept"]
    assert kept.name == "Closed Program" and "confirmed by its center" in kept.why
    assert report.count("superseded") == 0
    assert centers(session)["Closed Program"].superseded_at is None


def test_a_dry_run_reports_and_changes_nothing(session):
    two_states(session)
    before = snapshot(session)
    report = load(session, new("A", name="Harbor House", street1="12 Main Street"), covers="MA", dry_run=True)
    assert not report.written and report.matched == 1 and report.count("superseded") == 1
    assert snapshot(session) == before
    assert session.scalars(select(FormerExternalId)).all() == []


def test_an_invalid_row_writes_nothing(session):
    two_states(session)
    before = snapshot(session)
    report = load(session, new("A", name="Harbor House", street1="12 Main Street"), None, covers="MA")
    assert not report.written and report.invalid_rows == 1
    assert snapshot(session) == before


def test_importing_the_same_covering_file_again_changes_nothing(session):
    two_states(session)
    file = [new("A", name="Harbor House", street1="12 Main Street"), new("B", name="Brand New", street1="1 Pier")]
    load(session, *file, covers="MA")
    before = snapshot(session)
    report = load(session, *file, covers="MA")
    assert report.written
    assert (report.created, report.matched, report.updated, report.unchanged) == (0, 0, 0, 2)
    assert report.outcomes == []
    assert snapshot(session) == before


def test_a_superseded_listing_that_reappears_in_a_newer_file_comes_back(session):
    two_states(session)
    load(session, new("A", name="Harbor House", street1="12 Main Street"), covers="MA")
    later = {"source_date": date(2025, 11, 1)}
    report = load(session, new("C", name="Closed Program", street1="3 Elm Street", **later), covers="MA")
    assert report.matched == 1
    back = centers(session)["Closed Program"]
    assert back.superseded_at is None and back.external_id == "findtreatment-gov:C"


def test_covers_takes_state_codes_or_us():
    assert parse_covers("ma, ri") == {"MA", "RI"}
    assert "CA" in parse_covers("US") and "PR" in parse_covers("US")
    with pytest.raises(ValueError, match="'XX' is not one"):
        parse_covers("MA,XX")


# -- search, routing, profile ---------------------------------------------------------------------


CHICAGO = {"city": "Chicago", "state": "IL", "zip": "60601", "latitude": 41.8855, "longitude": -87.6217}


@pytest.fixture
def superseded_in_chicago(session):
    load(
        session,
        center_record(external_id="samhsa-nssats-2015:1", name="Gone Center", **OLD, **CHICAGO,
                      levels_of_care=["medical_detox"], medications=["naltrexone_oral"]),
        center_record(external_id="samhsa-nssats-2015:2", name="Still Here", street1="5 Lake Street", **OLD,
                      **CHICAGO, levels_of_care=["medical_detox"], medications=["naltrexone_oral"]),
    )  # fmt: skip
    load(session, center_record(external_id="findtreatment-gov:1", name="Still Here", street1="5 Lake Street",
                                **NEW, **CHICAGO, levels_of_care=["medical_detox"]), covers="IL")  # fmt: skip
    return centers(session)["Gone Center"]


def test_superseded_listings_are_out_of_web_search(client, superseded_in_chicago):
    text = client.get("/search?near=60601").get_data(as_text=True)
    assert "Still Here" in text and "Gone Center" not in text


def test_superseded_listings_are_out_of_api_search(client, superseded_in_chicago):
    body = client.get("/api/v1/centers/search?near=60601").get_json()
    assert [r["name"] for r in body["results"]] == ["Still Here"]


def test_superseded_listings_are_not_the_routers_candidates(session, superseded_in_chicago):
    referral = SimpleNamespace(location="60601", latitude=41.8855, longitude=-87.6217, max_distance_miles=25)
    names = [c.name for c in load_candidates(session, referral, datetime(2026, 1, 1))]
    assert names == ["Still Here"]


def test_the_superseded_profile_is_reachable_with_the_note(client, superseded_in_chicago):
    response = client.get(f"/centers/{superseded_in_chicago.slug}")
    assert response.status_code == 200
    assert (
        "This listing is not in FindTreatment.gov&#39;s August 2025 directory; the program may have closed or moved. "
        "Call before going." in response.get_data(as_text=True)
    )
    other = centers_of_client_app(client)["Still Here"]
    assert "may have closed" not in client.get(f"/centers/{other.slug}").get_data(as_text=True)


def centers_of_client_app(client) -> dict[str, Center]:
    from directory.extensions import db

    with client.application.app_context():
        return {c.name: c for c in db.session.scalars(select(Center))}


# -- admin restore --------------------------------------------------------------------------------


def test_an_admin_restores_a_superseded_listing_and_it_is_audited(client, session, superseded_in_chicago):
    admin = make_user(session, "admin", email="admin@example.org")
    login(client, admin.email)
    page = client.get("/admin/superseded").get_data(as_text=True)
    assert "Gone Center" in page and "Not in FindTreatment.gov, 19 August 2025" in page and "Restore" in page

    response = client.post(f"/admin/superseded/{superseded_in_chicago.id}/restore")

    assert response.status_code == 302
    assert "Gone Center" in client.get("/search?near=60601").get_data(as_text=True)
    restored = centers(session)["Gone Center"]
    assert restored.superseded_at is None and restored.superseded_by_date == date(2025, 8, 19)
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "center.restore")).all()
    assert (event.actor_id, event.entity_type, event.entity_id) == (admin.id, "center", str(restored.id))
    assert event.old_value == "Not in FindTreatment.gov, 19 August 2025" and event.new_value is None


def test_a_restored_listing_is_superseded_again_only_by_a_newer_import(client, session, superseded_in_chicago):
    admin = make_user(session, "admin", email="admin@example.org")
    login(client, admin.email)
    client.post(f"/admin/superseded/{superseded_in_chicago.id}/restore")
    row = center_record(external_id="findtreatment-gov:1", name="Still Here", street1="5 Lake Street", **NEW,
                        **CHICAGO, levels_of_care=["medical_detox"])  # fmt: skip
    assert load(session, row, covers="IL").count("superseded") == 0
    row.source_date = date(2025, 12, 1)
    assert [o.name for o in load(session, row, covers="IL").outcomes if o.outcome == "superseded"] == ["Gone Center"]


def test_only_admins_see_and_restore_superseded_listings(client, session, superseded_in_chicago):
    staff = make_user(session, "referral_staff", email="staff@example.org")
    login(client, staff.email)
    assert client.get("/admin/superseded").status_code == 403
    assert client.post(f"/admin/superseded/{superseded_in_chicago.id}/restore").status_code == 403
    assert centers(session)["Gone Center"].superseded_at is not None


# -- the command line -----------------------------------------------------------------------------


def test_cli_covers_prints_counts_and_writes_the_report(app, runner, tmp_path):
    older = {"source": "samhsa-nssats-2015", "source_vintage": "2015", "source_date": "", "last_verified_at": ""}
    first = write_rows(
        tmp_path / "2015.csv", "centers", *({"external_id": f"samhsa-nssats-2015:{n}", **older} for n in (1, 2))
    )
    assert run_import(runner, first).exit_code == 0
    newer = tmp_path / "2025.csv"
    write_rows(newer, "centers", {"external_id": "findtreatment-gov:9", "source": "findtreatment-gov",
                                  "last_verified_at": ""})  # fmt: skip
    details = tmp_path / "report.csv"

    result = run_import(runner, newer, "centers", "--covers", "CA", "--report", str(details))

    assert result.exit_code == 0, result.output
    assert "1 rows matched to the listing of the same place from an older source." in result.output
    assert "1 listings superseded (out of search and routing)." in result.output
    assert "Harbor Light 2 (center id 2): Not in FindTreatment.gov, 19 August 2025" in result.output
    with open(details, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["outcome"], r["center_id"]) for r in rows] == [("matched", "1"), ("superseded", "2")]

    exported = tmp_path / "export.csv"
    result = runner.invoke(args=["centers", "export", str(exported)])
    assert "Exported 1 centers to" in result.output and "(1 superseded listings left out)" in result.output
    with open(exported, encoding="utf-8") as stream:
        assert [r["external_id"] for r in csv.DictReader(stream)] == ["findtreatment-gov:9"]


def test_cli_refuses_an_unknown_state_in_covers(app, runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {})
    result = run_import(runner, path, "centers", "--covers", "MA,Massachusetts")
    assert result.exit_code == 2
    assert "'MASSACHUSETTS' is not one" in result.output


def test_a_superseded_listing_back_by_its_own_id_in_a_newer_file_comes_back(session):
    load(session, new("A", name="Harbor House"), new("B", name="Closed Program", street1="3 Elm Street"))
    load(session, new("A", name="Harbor House", source_date=date(2025, 11, 1)), covers="MA")
    assert centers(session)["Closed Program"].superseded_at is not None
    again = load(session, new("B", name="Closed Program", street1="3 Elm Street", source_date=date(2026, 2, 1)))
    assert again.updated == 1
    assert centers(session)["Closed Program"].superseded_at is None
