"""Importer for SAMHSA's 2015 N-SSATS national directory (geocoded by the OEPS project).

This is the one module that knows SAMHSA's N-SSATS service codes. Quirks handled here:
ZIP codes that lost their leading zero, rows repeated for several programs at one site
(merged into one listing), phone fields holding several numbers with an "Intake:" label,
and notes ("Methadone Clients Only") that leaked into the service codes.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

import phonenumbers
from slugify import slugify

from directory.sources.records import (
    CenterRecord,
    ImportIssue,
    ParsedRow,
    RowChecker,
    field_count_issue,
    format_phone,
)

SOURCE = "samhsa-nssats-2015"
VINTAGE = 2015
COLUMNS = (
    "Name1",
    "Name2",
    "Name3",
    "Address1",
    "Address2",
    "Address3",
    "City",
    "State",
    "ZIP_Code",
    "Contact",
    "Note",
    "Keys",
    "loc_ID",
    "Longitude",
    "Latitude",
    "Match Score",
)

#: N-SSATS code -> (attribute, vocabulary code).
CODE_MAP: dict[str, tuple[str, str]] = {
    # Levels of care.
    "HID": ("levels_of_care", "medical_detox"),
    "RD": ("levels_of_care", "medical_detox"),
    "OD": ("levels_of_care", "outpatient_detox"),
    "HIT": ("levels_of_care", "hospital_inpatient"),
    "RES": ("levels_of_care", "residential"),
    "RS": ("levels_of_care", "residential_short"),
    "RL": ("levels_of_care", "residential_long"),
    "ODT": ("levels_of_care", "partial_hospitalization"),
    "PH": ("levels_of_care", "partial_hospitalization"),
    "OIT": ("levels_of_care", "intensive_outpatient"),
    "OP": ("levels_of_care", "outpatient"),
    "ORT": ("levels_of_care", "outpatient"),
    "HH": ("levels_of_care", "transitional_housing"),
    # Medications.
    "NXN": ("medications", "naltrexone_oral"),
    "VTRL": ("medications", "naltrexone_injectable"),
    "BU": ("medications", "buprenorphine"),
    "MM": ("medications", "methadone"),
    # Payment.
    "SF": ("payment_options", "self_pay"),
    "PI": ("payment_options", "private_insurance"),
    "MD": ("payment_options", "medicaid"),
    "MC": ("payment_options", "medicare"),
    "MI": ("payment_options", "military_insurance"),
    "SI": ("payment_options", "state_financed"),
    "SS": ("payment_options", "sliding_scale"),
    "PA": ("payment_options", "payment_assistance"),
    "NP": ("payment_options", "free_care"),
    "IHS": ("payment_options", "ihs_tribal"),
    "ATR": ("payment_options", "atr_voucher"),
    # Populations served.
    "AD": ("populations", "adolescents"),
    "CHLD": ("populations", "children"),
    "YAD": ("populations", "young_adults"),
    "ADLT": ("populations", "adults"),
    "SE": ("populations", "seniors"),
    "WN": ("populations", "adult_women"),
    "MN": ("populations", "adult_men"),
    "FEM": ("populations", "female"),
    "MALE": ("populations", "male"),
    "PW": ("populations", "pregnant_postpartum"),
    "BC": ("populations", "residential_beds_for_children"),
    "GL": ("populations", "lgbtq"),
    "VET": ("populations", "veterans"),
    "ADM": ("populations", "active_duty_military"),
    "MF": ("populations", "military_families"),
    "CJ": ("populations", "criminal_justice"),
    "DU": ("populations", "dui_dwi"),
    "CO": ("populations", "co_occurring"),
    "HV": ("populations", "hiv_aids"),
    "TRMA": ("populations", "trauma"),
    "XA": ("populations", "sexual_abuse"),
    "DV": ("populations", "domestic_violence"),
    "MO": ("populations", "methadone_clients_only"),
    "BMO": ("populations", "methadone_buprenorphine_clients_only"),
    "DUO": ("populations", "dui_dwi_clients_only"),
    # Languages.
    "SP": ("languages", "es"),
    "AH": ("languages", "asl"),
    "FX": ("languages", "other_languages"),
    "NX": ("languages", "native_american_languages"),
    # N2 is used by two facilities but missing from the code key: an unnamed native language.
    "N2": ("languages", "native_american_languages"),
}
_LANGUAGE_CODES = {
    "N3": "ath", "N64": "bla", "N5": "chy", "N75": "cic", "N6": "cho", "N9": "cro", "N13": "hop",
    "N70": "ik", "N16": "kee", "N18": "lkt", "N74": "lumbee", "N23": "nv", "N24": "oj", "N73": "oj",
    "N28": "pqm", "N29": "pima", "N30": "sal", "N32": "shh", "N33": "tew", "N49": "tix",
    "N35": "ood", "N36": "tow", "N71": "ale", "N40": "ypk",
    "F140": "akha", "F2": "sq", "F3": "am", "F4": "ar", "F5": "hy", "F131": "bm", "F9": "bn",
    "F10": "bs", "F11": "bg", "F12": "my", "F15": "cld", "F16": "ch", "F17": "zh", "F19": "crp",
    "F20": "hr", "F22": "da", "F98": "prs", "F23": "nl", "F132": "dz", "F25": "fa", "F28": "fr",
    "F30": "de", "F31": "el", "F33": "gu", "F108": "ha", "F34": "haw", "F35": "he", "F36": "hi",
    "F38": "hu", "F39": "ig", "F40": "ilo", "F42": "it", "F43": "ja", "F44": "km", "F47": "ko",
    "F135": "ku", "F48": "lo", "F99": "lt", "F136": "lg", "F52": "mk", "F119": "mr", "F58": "mien",
    "F64": "pau", "F65": "pa", "F37": "pis", "F66": "pl", "F67": "pt", "F69": "ro", "F133": "rn",
    "F70": "ru", "F73": "sr", "F74": "sh", "F76": "sk", "F104": "so", "F79": "sw", "F81": "tl",
    "F138": "tg", "F86": "th", "F87": "to", "F88": "tr", "F89": "uk", "F91": "ur", "F139": "ug",
    "F101": "uz", "F92": "vi", "F94": "yap", "F96": "yo",
}  # fmt: skip
CODE_MAP.update({code: ("languages", lang) for code, lang in _LANGUAGE_CODES.items()})

#: Codes that describe the facility rather than anything the directory lists (facility
#: type, generic "substance abuse treatment", detox of unstated setting, computerized
#: treatment, methadone detox, OTP, VA facility). Known, deliberately not mapped.
UNLISTED_CODES = frozenset({"GHF", "MHF", "MHSAF", "SAF", "SA", "DT", "DM", "OTPA", "CT", "HI", "OMB", "VAMC"})

#: A code the key combines from two languages (Hopi and Lakota) and leaves unlabelled.
COMBINED_CODES = {"N13N18": ("N13", "N18")}

#: Notes that the directory printed as text, sometimes leaking into the Keys column.
NOTE_CODES = {
    "Methadone Clients Only": "MO",
    "Methadone and Buprenorphine Clients Only": "BMO",
    "DWI/DUI Clients Only": "DUO",
}

_LOCATION_ID = re.compile(r"[A-Za-z0-9]{1,40}")
_PHONE = re.compile(r"\(\d{3}\)\s*\d{3}-\s*\d{4}(?:\s*x\d+)?")


@dataclass
class _Site:
    """Rows that repeat one name, address and ZIP: programs of one site, merged."""

    first_line: int
    rows: list[dict[str, str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def read_nssats(stream: TextIO, path: str) -> Iterator[ParsedRow]:
    """Read the N-SSATS directory CSV, merging repeated rows of one site into one record."""
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        yield ParsedRow(
            1,
            None,
            [
                ImportIssue(
                    path,
                    1,
                    "(header)",
                    ",".join(header),
                    f"missing columns {', '.join(missing)}; "
                    f"expected the N-SSATS directory CSV with: {','.join(COLUMNS)}",
                )
            ],
        )
        return
    sites: dict[tuple[str, str, str], _Site] = {}
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if issue := field_count_issue(row, header, path, start):
            yield ParsedRow(start, None, [issue])
            continue
        key = (row["Name1"].strip().casefold(), row["Address1"].strip().casefold(), row["ZIP_Code"].strip().zfill(5))
        site = sites.setdefault(key, _Site(first_line=start))
        site.rows.append(row)
        site.lines.append(start)
    for site in sites.values():
        yield _merge_site(site, path)


def _merge_site(site: _Site, path: str) -> ParsedRow:
    first = site.rows[0]
    check = RowChecker(path, site.first_line)
    codes: set[str] = set()
    for row, line in zip(site.rows, site.lines, strict=False):
        check.line = line
        codes |= _row_codes(row, check)
    check.line = site.first_line
    phone, intake = _phones(site.rows, check)
    alt_names = list(dict.fromkeys(n for r in site.rows for n in (r["Name2"].strip(), r["Name3"].strip()) if n))
    record = CenterRecord(
        external_id=f"{SOURCE}:{_location_id(first['loc_ID'], check)}-{slugify(first['Name1'])[:60]}",
        name=check.text("Name1", first["Name1"], required=True) or "",
        alt_name=check.text("Name2", " / ".join(alt_names)),
        street1=check.text("Address1", first["Address1"]),
        street2=check.text("Address2", ", ".join(p for p in (first["Address2"], first["Address3"]) if p.strip())),
        city=check.text("City", first["City"], required=True, max_len=100) or "",
        state=check.state("State", first["State"]) or "",
        zip=check.zip_code("ZIP_Code", first["ZIP_Code"], pad=True) or "",
        phone=phone,
        intake_phone=intake,
        latitude=check.coordinate("Latitude", first["Latitude"], 90, digits=6) or 0.0,
        longitude=check.coordinate("Longitude", first["Longitude"], 180, digits=6) or 0.0,
        source=SOURCE,
        source_vintage=VINTAGE,
        line=site.first_line,
    )
    for code in sorted(codes):
        kind, value = CODE_MAP[code]
        getattr(record, kind).append(value)
    for kind in ("levels_of_care", "payment_options", "medications", "populations", "languages"):
        setattr(record, kind, sorted(set(getattr(record, kind))))
    if check.issues:
        return ParsedRow(site.first_line, None, check.issues)
    return ParsedRow(site.first_line, record, [])


def _location_id(value: str, check: RowChecker) -> str:
    """The site's N-SSATS location id, part of its external id: letters and digits only."""
    location_id = value.strip()
    if not _LOCATION_ID.fullmatch(location_id):
        check.fail("loc_ID", value, "is not an N-SSATS location id (up to 40 letters and digits, e.g. 7363AL36310)")
    return location_id


def _row_codes(row: dict[str, str], check: RowChecker) -> set[str]:
    """The mapped N-SSATS codes of one row, from its Keys and its Note."""
    keys = row["Keys"]
    codes: set[str] = set()
    for note, code in NOTE_CODES.items():
        for text in (note.replace(" ", "/"), note):
            if text in keys:
                keys = keys.replace(text, "")
                codes.add(code)
        if row["Note"].strip() == note:
            codes.add(code)
    unknown = []
    for token in (t.strip() for t in keys.split("/")):
        if not token or token in UNLISTED_CODES:
            continue
        for part in COMBINED_CODES.get(token, (token,)):
            if part in CODE_MAP:
                codes.add(part)
            else:
                unknown.append(part)
    if unknown:
        check.fail("Keys", "/".join(unknown), "has service codes missing from the N-SSATS code key")
    return codes


def _phones(rows: list[dict[str, str]], check: RowChecker) -> tuple[str | None, str | None]:
    """The main number (first listed) and the first intake number of a site's rows."""
    main: str | None = None
    intake: str | None = None
    for row in rows:
        contact = row["Contact"]
        label = re.search(r"Intakes?:", contact)
        for match in _PHONE.finditer(contact):
            number = phonenumbers.parse(re.sub(r"\s", "", match.group()), "US")
            if not phonenumbers.is_possible_number(number):
                continue
            is_intake = label is not None and match.start() > label.start()
            if is_intake and intake is None:
                intake = format_phone(number)
            elif not is_intake and main is None:
                main = format_phone(number)
    if main is None and intake is None and any(r["Contact"].strip() for r in rows):
        check.fail("Contact", rows[0]["Contact"], "has no complete phone number, e.g. (334)673-2143")
    return main, intake
