"""Writing imports: round trips, updates by external id, and listings their center has edited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text

from directory.models import Center
from directory.sources import import_file
from tests.conftest import SEED_FILE
from tests.factories import add_centers, center_record
from tests.sources.helpers import count_centers, run_export, run_import, write_rows


def test_importing_an_export_changes_nothing_and_exports_the_same_bytes(session, runner, tmp_path):
    # The seed is an export (test_seed checks it byte for byte), so it stands in for the first one.
    assert import_file(session, SEED_FILE).created == 12170
    result = run_import(runner, SEED_FILE)
    assert result.exit_code == 0, result.output
    assert "Imported: 0 created, 0 updated, 12170 unchanged, 0 kept as edited by their center, 0 invalid." in (
        result.output
    )
    exported = tmp_path / "centers.csv"
    run_export(runner, exported)
    assert exported.read_bytes() == SEED_FILE.read_bytes()


def test_a_round_trip_keeps_every_field(session, runner, tmp_path):
    path = write_rows(
        tmp_path / "in.csv",
        "centers",
        {"alt_name": "Harbor", "street2": "Suite 2", "intake_phone": "(415) 503-3001", "medications": "methadone"},
        {"website": "", "beds_available": "", "detox_stay_days": "", "last_verified_at": "", "languages": ""},
        {
            "accepting_referrals": "false",
            "latitude": "-14.2756",
            "longitude": "-170.702",
            "state": "AS",
            "zip": "96799",
        },
    )
    assert import_file(session, path).created == 3
    exported = tmp_path / "out.csv"
    run_export(runner, exported)
    assert exported.read_text(encoding="utf-8") == path.read_text(encoding="utf-8").replace("\r\n", "\n")
    again = import_file(session, exported)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_a_reimport_updates_by_external_id_without_duplicates(app, session, runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {}, {})
    assert run_import(runner, path).exit_code == 0
    before = session.execute(select(Center.id, Center.slug).where(Center.external_id == "test:1")).one()

    write_rows(path, "centers", {"phone": "(415) 503-3999", "levels_of_care": "residential"}, {})
    result = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert "Imported: 0 created, 1 updated, 1 unchanged" in result.output
    assert count_centers(app) == 2
    session.rollback()
    center = session.scalars(select(Center).where(Center.external_id == "test:1")).one()
    assert (center.id, center.slug) == tuple(before)
    assert center.phone == "(415) 503-3999"
    assert center.levels_of_care == ["residential"]


def test_a_listing_edited_by_its_center_is_kept_unless_told_to_overwrite(session, runner, tmp_path):
    add_centers(session, center_record(external_id="test:1", phone="(312) 555-0100"))
    center = session.scalars(select(Center)).one()
    center.center_edited_at = datetime(2026, 1, 5, 9, 30)
    session.commit()
    path = write_rows(tmp_path / "in.csv", "centers", {"phone": "(312) 555-0199"})

    result = run_import(runner, path)
    assert "0 updated, 0 unchanged, 1 kept as edited by their center" in result.output
    session.refresh(center)
    assert center.phone == "(312) 555-0100"

    result = run_import(runner, path, "centers", "--overwrite-center-edits")
    assert "1 updated, 0 unchanged, 0 kept as edited by their center" in result.output
    session.refresh(center)
    assert center.phone == "(312) 555-0199"


def test_new_centers_get_unique_slugs_timestamps_and_a_place_in_the_spatial_index(session, tmp_path):
    add_centers(
        session, center_record(external_id="earlier:1", name="Harbor Light 1", city="San Francisco", state="CA")
    )
    path = write_rows(tmp_path / "in.csv", "centers", {}, {"name": "Harbor Light 1", "external_id": "test:other"})
    assert import_file(session, path).created == 2
    centers = session.scalars(select(Center).order_by(Center.id)).all()
    assert [c.slug for c in centers] == [
        "harbor-light-1-san-francisco-ca",
        "harbor-light-1-san-francisco-ca-2",
        "harbor-light-1-san-francisco-ca-3",
    ]
    assert all(c.created_at and c.updated_at for c in centers)
    assert centers[1].languages == ["asl", "es"]
    if session.get_bind().dialect.name == "sqlite":
        located = session.execute(text("SELECT id FROM center_locations ORDER BY id")).scalars().all()
        assert located == [c.id for c in centers]
