"""The N-SSATS 2015 importer: the source's quirks, the real file, and the seed derived from it."""

from __future__ import annotations

from sqlalchemy import select

from directory.models import Center
from directory.sources import import_file
from tests.conftest import NSSATS_FILE
from tests.sources.helpers import count_centers, write_rows


def import_rows(session, tmp_path, *rows):
    path = write_rows(tmp_path / "directory.csv", "nssats", *rows)
    report = import_file(session, path, "nssats")
    assert report.written, [str(i) for i in report.issues]
    return report, session.scalars(select(Center).order_by(Center.id)).all()


def test_a_zip_code_that_lost_its_leading_zero_is_padded(session, tmp_path):
    _, [center] = import_rows(session, tmp_path, {"State": "MA", "ZIP_Code": "2139"})
    assert center.zip == "02139"


def test_rows_repeating_one_site_are_merged_into_one_listing(session, tmp_path):
    site = {"Name1": "Harbor House", "Address1": "1 Dothan Road", "loc_ID": "1AL36310"}
    report, centers = import_rows(
        session,
        tmp_path,
        {**site, "Name2": "Adult Outpatient", "Keys": "SA/OP/SF/SP/"},
        {**site, "Name2": "Residential", "Keys": "SA/RES/RS/MD/"},
        {"Name1": "Elsewhere"},
    )
    assert report.created == 2
    harbor = centers[0]
    assert harbor.name == "Harbor House"
    assert harbor.alt_name == "Adult Outpatient / Residential"
    assert harbor.levels_of_care == ["outpatient", "residential", "residential_short"]
    assert harbor.payment_options == ["medicaid", "self_pay"]
    assert harbor.languages == ["es"]


def test_an_intake_number_is_kept_apart_from_the_main_number(session, tmp_path):
    _, [center] = import_rows(session, tmp_path, {"Contact": "(302)947-1920 Intake: (866)477-5345"})
    assert (center.phone, center.intake_phone) == ("(302) 947-1920", "(866) 477-5345")


def test_notes_are_read_from_the_note_column_and_from_keys_they_leaked_into(session, tmp_path):
    _, [leaked, noted] = import_rows(
        session,
        tmp_path,
        {"Note": "2314", "Keys": "Methadone/and/Buprenorphine/Clients/Only/SAF/SA/MM/BU/OTPA/OP/"},
        {"Note": "DWI/DUI Clients Only", "Keys": "SA/OP/DU/"},
    )
    assert "methadone_buprenorphine_clients_only" in leaked.populations
    assert "methadone_clients_only" not in leaked.populations
    assert leaked.medications == ["buprenorphine", "methadone"]
    assert noted.populations == ["dui_dwi", "dui_dwi_clients_only"]


def test_the_real_directory_imports_cleanly(app, session):
    report = import_file(session, NSSATS_FILE, "nssats")
    assert report.invalid_rows == 0, [str(i) for i in report.issues[:5]]
    assert report.written
    assert len(NSSATS_FILE.read_text(encoding="utf-8").splitlines()) - 1 == 11928
    assert report.created == 11689  # 239 rows repeat a site and are merged into it
    assert count_centers(app) == 11689
