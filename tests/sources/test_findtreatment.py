"""The FindTreatment.gov importer: label mapping, listing ids, repeated rows, and the real pull."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.sources import import_file, nssats
from directory.sources.findtreatment import LABEL_MAP, SOURCE, read_findtreatment
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, expand_medication_filter
from tests.conftest import FINDTREATMENT_FILE
from tests.sources.helpers import write_rows


def read(tmp_path, *rows):
    """The records read from a file of the given rows (all must be valid)."""
    path = write_rows(tmp_path / "residential.csv", "findtreatment", *rows)
    with open(path, encoding="utf-8", newline="") as stream:
        parsed = list(read_findtreatment(stream, str(path)))
    assert all(p.record for p in parsed), [str(i) for p in parsed for i in p.issues]
    return [p.record for p in parsed]


def services(*labels: str) -> dict[str, str]:
    return {"Residential Services": "", "All Services": "; ".join(labels)}


@pytest.mark.parametrize("source_map", [LABEL_MAP, nssats.CODE_MAP], ids=["findtreatment", "nssats"])
def test_every_source_label_or_code_maps_to_a_vocabulary_code(source_map):
    unknown = {(kind, code) for kind, code in source_map.values() if code not in ATTRIBUTE_VOCABULARIES[kind]}
    assert not unknown


def test_labels_map_to_the_vocabulary_and_other_services_are_ignored(tmp_path):
    [record] = read(
        tmp_path,
        {
            "Residential Services": "Residential/24-hour residential; Residential detoxification; "
            "Long-term residential",
            "All Services": "Substance use treatment; Detoxification; Cognitive behavioral therapy; "
            "Hospital inpatient/24-hour hospital inpatient; Outpatient detoxification; Regular outpatient treatment; "
            "Buprenorphine with naloxone; Methadone maintenance; Naltrexone (extended-release, injectable); "
            "Medicaid; Federal military insurance (e.g., TRICARE); "
            "Sliding fee scale (fee is based on income and other factors); No payment accepted; "
            "Adult women; Pregnant/postpartum women; Veterans; Seniors; Children/Adolescents; "
            "Clients with co-occurring mental and substance use disorders; "
            "Spanish; Sign language services for the deaf and hard of hearing; Any Chinese Language; Hmong\xa0; "
            "Smoking permitted in designated area",
        },
    )
    assert record.levels_of_care == [
        "hospital_inpatient",
        "medical_detox",
        "outpatient",
        "outpatient_detox",
        "residential",
        "residential_long",
    ]
    assert record.medications == ["buprenorphine", "methadone", "naltrexone_injectable"]
    assert record.payment_options == ["free_care", "medicaid", "military_insurance", "sliding_scale"]
    assert record.populations == [
        "adult_women",
        "children",
        "co_occurring",
        "pregnant_postpartum",
        "seniors",
        "veterans",
    ]
    assert record.languages == ["asl", "es", "hmn", "zh"]


@pytest.mark.parametrize(
    ("labels", "medications"),
    [
        (["Naltrexone used in Treatment"], ["naltrexone_oral"]),
        (["Prescribes naltrexone", "Relapse prevention with naltrexone"], ["naltrexone_oral"]),
        (["Naltrexone used in Treatment", "Naltrexone (extended-release, injectable)"], ["naltrexone_injectable"]),
        (["Naltrexone used in Treatment", "Naltrexone (oral)"], ["naltrexone_oral"]),
        (["Outpatient methadone/buprenorphine or naltrexone treatment"], []),
    ],
)
def test_naltrexone_of_unstated_form_is_listed_as_oral_only_when_no_form_is_given(tmp_path, labels, medications):
    [record] = read(tmp_path, services(*labels))
    assert record.medications == medications
    assert bool(set(record.medications) & set(expand_medication_filter(["naltrexone"]))) == bool(medications)


def test_a_listing_id_is_built_from_name_zip_and_phone(tmp_path):
    plain, extension = read(tmp_path, {"Name": "Salvation Army"}, {"Name": "Ohlhoff", "Phone": "415-621-4388 x210"})
    assert plain.external_id == f"{SOURCE}:salvation-army-94103-4155033000"
    assert extension.external_id == f"{SOURCE}:ohlhoff-94103-4156214388x210"
    assert extension.phone == "(415) 621-4388 ext. 210"


def test_rows_repeating_one_site_are_merged_and_sites_of_one_provider_kept_apart(tmp_path):
    same = {"Name": "Safe Refuge", "Phone": "562-987-5722 x103", "ZIP": "90804"}
    records = read(
        tmp_path,
        {**same, "Latitude": "33.7758981", "Longitude": "-118.1548889", **services("Outpatient")},
        {**same, "Latitude": "33.7758981", "Longitude": "-118.1548889", **services("Medicaid")},
        {**same, "Latitude": "33.7755398", "Longitude": "-118.1553534", **services("Medicare")},
    )
    assert [(r.external_id, r.levels_of_care, r.payment_options, r.line) for r in records] == [
        (f"{SOURCE}:safe-refuge-90804-5629875722x103:33.775898:-118.154889", ["outpatient"], ["medicaid"], 2),
        (f"{SOURCE}:safe-refuge-90804-5629875722x103:33.775540:-118.155353", [], ["medicare"], 4),
    ]


def test_a_bare_http_means_no_website_and_the_street_address_is_empty(tmp_path):
    [record] = read(tmp_path, {"Website": "http://"})
    assert (record.website, record.street1, record.source, record.source_vintage) == (None, None, SOURCE, 2025)


def test_the_header_must_name_every_column(tmp_path):
    stream = io.StringIO("Name,City,State,Zip\nA,B,CA,94103\n")
    [row] = read_findtreatment(stream, "pull.csv")
    assert str(row.issues[0]).startswith("pull.csv:1: column '(header)': missing columns ZIP, Phone, Address")


def test_the_real_pull_imports_with_no_invalid_rows(session):
    report = import_file(session, FINDTREATMENT_FILE, "findtreatment")
    assert report.invalid_rows == 0, [str(i) for i in report.issues[:5]]
    assert report.written
    assert report.created == 473  # 478 rows; 5 repeat a site (same name, ZIP, phone and point)
    again = import_file(session, FINDTREATMENT_FILE, "findtreatment")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 473)

    [harbor_light] = session.scalars(select(Center).where(Center.name == "Salvation Army", Center.zip == "94103"))
    assert harbor_light.external_id == f"{SOURCE}:salvation-army-94103-4155033000"
    assert harbor_light.city == "San Francisco"
    assert harbor_light.street1 is None
    assert {"residential", "medical_detox"} <= set(harbor_light.levels_of_care)
    assert "free_care" in harbor_light.payment_options
    assert {"es", "asl"} <= set(harbor_light.languages)
