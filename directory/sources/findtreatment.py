"""Importer for FindTreatment.gov locator pulls (SAMHSA's current treatment locator).

This is the one module that knows the locator's service labels. A pull has no street
address and no facility id, so a listing's external id is built from its name, ZIP and
phone. Quirks handled here: rows repeated for several programs at one site (same name,
ZIP, phone and point: merged into one listing), several sites of one provider sharing a
name, ZIP and phone (told apart by their coordinates), a bare "http://" standing for
no website, and labels ending in a non-breaking space.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

import phonenumbers
from slugify import slugify

from directory.sources.records import CenterRecord, ImportIssue, ParsedRow, RowChecker, field_count_issue

SOURCE = "findtreatment-gov-2025"
VINTAGE = 2025
COLUMNS = (
    "Name",
    "City",
    "State",
    "ZIP",
    "Phone",
    "Address",
    "Website",
    "Latitude",
    "Longitude",
    "Residential Services",
    "All Services",
)
LABEL_COLUMNS = ("Residential Services", "All Services")

#: Locator label -> (attribute, vocabulary code). Labels not listed here are services the
#: directory does not list (therapies, testing, facility type, funding, smoking policy...):
#: ignored by design, so a new label in a later pull is never an error.
LABEL_MAP: dict[str, tuple[str, str]] = {
    # Levels of care. Plain "Detoxification" does not say where, so it is not mapped.
    "Hospital inpatient detoxification": ("levels_of_care", "medical_detox"),
    "Residential detoxification": ("levels_of_care", "medical_detox"),
    "Outpatient detoxification": ("levels_of_care", "outpatient_detox"),
    "Hospital inpatient treatment": ("levels_of_care", "hospital_inpatient"),
    "Hospital inpatient/24-hour hospital inpatient": ("levels_of_care", "hospital_inpatient"),
    "Residential/24-hour residential": ("levels_of_care", "residential"),
    "Short-term residential": ("levels_of_care", "residential_short"),
    "Long-term residential": ("levels_of_care", "residential_long"),
    "Outpatient day treatment or partial hospitalization": ("levels_of_care", "partial_hospitalization"),
    "Intensive outpatient treatment": ("levels_of_care", "intensive_outpatient"),
    "Outpatient": ("levels_of_care", "outpatient"),
    "Regular outpatient treatment": ("levels_of_care", "outpatient"),
    "Transitional housing, halfway house, or sober home": ("levels_of_care", "transitional_housing"),
    # Medications. Labels naming several medications at once ("Outpatient methadone/
    # buprenorphine or naltrexone treatment") or other uses ("...for pain management or
    # emergency dosing", "Accepts clients using MAT but prescribed elsewhere") are not mapped.
    "Naltrexone (oral)": ("medications", "naltrexone_oral"),
    "Naltrexone (extended-release, injectable)": ("medications", "naltrexone_injectable"),
    "Buprenorphine used in Treatment": ("medications", "buprenorphine"),
    "Prescribes buprenorphine": ("medications", "buprenorphine"),
    "Buprenorphine maintenance": ("medications", "buprenorphine"),
    "Buprenorphine detoxification": ("medications", "buprenorphine"),
    "Buprenorphine with naloxone": ("medications", "buprenorphine"),
    "Buprenorphine without naloxone": ("medications", "buprenorphine"),
    "Buprenorphine (extended-release, injectable)": ("medications", "buprenorphine"),
    "Buprenorphine sub-dermal implant": ("medications", "buprenorphine"),
    "Methadone": ("medications", "methadone"),
    "Methadone used in Treatment": ("medications", "methadone"),
    "Methadone maintenance": ("medications", "methadone"),
    "Methadone detoxification": ("medications", "methadone"),
    # Payment.
    "Cash or self-payment": ("payment_options", "self_pay"),
    "Private health insurance": ("payment_options", "private_insurance"),
    "Medicaid": ("payment_options", "medicaid"),
    "Medicare": ("payment_options", "medicare"),
    "Federal military insurance (e.g., TRICARE)": ("payment_options", "military_insurance"),
    "State-financed health insurance plan other than Medicaid": ("payment_options", "state_financed"),
    "Sliding fee scale": ("payment_options", "sliding_scale"),
    "Sliding fee scale (fee is based on income and other factors)": ("payment_options", "sliding_scale"),
    "Payment assistance": ("payment_options", "payment_assistance"),
    "Payment assistance (check with facility for details)": ("payment_options", "payment_assistance"),
    "No payment accepted": ("payment_options", "free_care"),
    "IHS/Tribal/Urban (ITU) funds": ("payment_options", "ihs_tribal"),
    # Populations served. "Clients with co-occurring pain and substance use disorders" and
    # "Child care for clients' children" have no vocabulary code.
    "Adolescents": ("populations", "adolescents"),
    "Children/Adolescents": ("populations", "children"),
    "Young adults": ("populations", "young_adults"),
    "Young Adults": ("populations", "young_adults"),
    "Adults": ("populations", "adults"),
    "Seniors": ("populations", "seniors"),
    "Seniors or older adults": ("populations", "seniors"),
    "Adult women": ("populations", "adult_women"),
    "Adult men": ("populations", "adult_men"),
    "Female": ("populations", "female"),
    "Male": ("populations", "male"),
    "Pregnant/postpartum women": ("populations", "pregnant_postpartum"),
    "Residential beds for clients' children": ("populations", "residential_beds_for_children"),
    "Veterans": ("populations", "veterans"),
    "Active duty military": ("populations", "active_duty_military"),
    "Members of military families": ("populations", "military_families"),
    "Criminal justice (other than DUI/DWI)/Forensic clients": ("populations", "criminal_justice"),
    "Specially designed program for DUI/DWI clients": ("populations", "dui_dwi"),
    "Clients with co-occurring mental and substance use disorders": ("populations", "co_occurring"),
    "Clients with HIV or AIDS": ("populations", "hiv_aids"),
    "Clients who have experienced trauma": ("populations", "trauma"),
    "Clients who have experienced sexual abuse": ("populations", "sexual_abuse"),
    "Clients who have experienced intimate partner violence, domestic violence": (
        "populations",
        "domestic_violence",
    ),
    # Languages.
    "Spanish": ("languages", "es"),
    "Sign language services for the deaf and hard of hearing": ("languages", "asl"),
    "Other languages (excluding Spanish)": ("languages", "other_languages"),
    "American Indian or Alaska Native languages": ("languages", "native_american_languages"),
    "Any Chinese Language": ("languages", "zh"),
    "Arabic": ("languages", "ar"),
    "Farsi": ("languages", "fa"),
    "French": ("languages", "fr"),
    "Hebrew": ("languages", "he"),
    "Hindi": ("languages", "hi"),
    "Hmong": ("languages", "hmn"),
    "Italian": ("languages", "it"),
    "Japanese": ("languages", "ja"),
    "Korean": ("languages", "ko"),
    "Russian": ("languages", "ru"),
    "Tagalog": ("languages", "tl"),
    "Vietnamese": ("languages", "vi"),
}

#: Labels saying a center uses naltrexone without saying which form. When no form label is
#: given either, the center is listed with oral naltrexone: the form any prescriber can
#: give, and the only way such a center still matches a search for naltrexone, since the
#: vocabulary has no code for "naltrexone, form not stated". A stated form always wins.
GENERIC_NALTREXONE = frozenset(
    {"Naltrexone used in Treatment", "Prescribes naltrexone", "Relapse prevention with naltrexone"}
)
NALTREXONE_FORMS = ("naltrexone_oral", "naltrexone_injectable")

#: What the locator writes when a facility has no website.
NO_WEBSITE = frozenset({"", "http://", "https://"})


@dataclass
class _Site:
    """Rows that repeat one provider's name, ZIP, phone and point: programs of one site."""

    provider: tuple[str, str, str]
    first_line: int
    rows: list[dict[str, str]] = field(default_factory=list)


def read_findtreatment(stream: TextIO, path: str) -> Iterator[ParsedRow]:
    """Read a FindTreatment.gov locator CSV, merging repeated rows of one site into one record."""
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        issue = ImportIssue(
            path,
            1,
            "(header)",
            ",".join(header),
            f"missing columns {', '.join(missing)}; expected a FindTreatment.gov pull with: {','.join(COLUMNS)}",
        )
        yield ParsedRow(1, None, [issue])
        return
    sites: dict[tuple[str, ...], _Site] = {}
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if issue := field_count_issue(row, header, path, start):
            yield ParsedRow(start, None, [issue])
            continue
        provider = _provider_key(row)
        point = (_point_key(row["Latitude"]), _point_key(row["Longitude"]))
        site = sites.setdefault((*provider, *point), _Site(provider, start))
        site.rows.append(row)
    sites_per_provider: dict[tuple[str, str, str], int] = {}
    for site in sites.values():
        sites_per_provider[site.provider] = sites_per_provider.get(site.provider, 0) + 1
    for site in sites.values():
        yield _merge_site(site, path, shared=sites_per_provider[site.provider] > 1)


def _merge_site(site: _Site, path: str, *, shared: bool) -> ParsedRow:
    first = site.rows[0]
    line = site.first_line
    check = RowChecker(path, line)
    website = next((r["Website"] for r in site.rows if r["Website"].strip() not in NO_WEBSITE), "")
    record = CenterRecord(
        external_id=_external_id(first, shared=shared),
        name=check.text("Name", first["Name"], required=True) or "",
        street1=check.text("Address", first["Address"]),
        city=check.text("City", first["City"], required=True, max_len=100) or "",
        state=check.state("State", first["State"]) or "",
        zip=check.zip_code("ZIP", first["ZIP"]) or "",
        phone=check.phone("Phone", first["Phone"]),
        website=check.website("Website", website),
        latitude=check.coordinate("Latitude", first["Latitude"], 90, digits=6) or 0.0,
        longitude=check.coordinate("Longitude", first["Longitude"], 180, digits=6) or 0.0,
        source=SOURCE,
        source_vintage=VINTAGE,
        # A pull without the street keeps the one a listing of the same place already has.
        not_in_source=frozenset() if first["Address"].strip() else frozenset({"street1", "street2"}),
        line=line,
    )
    labels = {label.strip() for row in site.rows for column in LABEL_COLUMNS for label in row[column].split(";")}
    codes = {LABEL_MAP[label] for label in labels if label in LABEL_MAP}
    if labels & GENERIC_NALTREXONE and not any(("medications", form) in codes for form in NALTREXONE_FORMS):
        codes.add(("medications", "naltrexone_oral"))
    for kind, code in sorted(codes):
        getattr(record, kind).append(code)
    if check.issues:
        return ParsedRow(line, None, check.issues)
    return ParsedRow(line, record, [])


def _provider_key(row: dict[str, str]) -> tuple[str, str, str]:
    """Name (as a slug), ZIP and phone: what a listing is known by when there is no address."""
    return slugify(row["Name"])[:60], row["ZIP"].strip()[:5], _phone_key(row["Phone"])


def _external_id(row: dict[str, str], *, shared: bool) -> str:
    """`<source>:<name>-<zip>-<phone>`, plus `:<lat>:<lon>` when the provider has several sites."""
    name, zip_code, phone = _provider_key(row)
    external_id = f"{SOURCE}:{'-'.join(p for p in (name or 'center', zip_code, phone) if p)}"
    if shared:
        external_id += f":{_point_key(row['Latitude'])}:{_point_key(row['Longitude'])}"
    return external_id


def _phone_key(value: str) -> str:
    """A phone number's digits, with "x" and the extension if any: "4156214388x210"."""
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return "".join(c for c in value if c.isdigit())
    return f"{number.national_number}" + (f"x{number.extension}" if number.extension else "")


def _point_key(value: str) -> str:
    """A coordinate to 6 decimals (about 10 cm), the precision a listing keeps."""
    try:
        return f"{float(value):.6f}"
    except ValueError:
        return value.strip()
