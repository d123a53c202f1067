"""The public vocabulary: the codes used in CSV files, URLs and JSON, with plain-words labels.

Importers translate each source's own codes or labels into these; nothing outside
`directory.sources` knows any source's codes. The labels are English, marked for the catalogue:
pages show them in the person's language (docs/translating.md).
"""

from __future__ import annotations

from directory.translatable import N_

LEVELS_OF_CARE: dict[str, str] = {
    "medical_detox": N_("Medical detox (24-hour medically monitored withdrawal)"),
    "outpatient_detox": N_("Outpatient detox"),
    "hospital_inpatient": N_("Hospital inpatient treatment"),
    "residential": N_("Residential treatment"),
    "residential_short": N_("Short-term residential (30 days or less)"),
    "residential_long": N_("Long-term residential (more than 30 days)"),
    "partial_hospitalization": N_("Partial hospitalization / day treatment"),
    "intensive_outpatient": N_("Intensive outpatient"),
    "outpatient": N_("Outpatient"),
    "transitional_housing": N_("Transitional housing / halfway house"),
}

#: What a center offers detox (medically managed withdrawal) for.
DETOX_SUBSTANCES: dict[str, str] = {
    "alcohol": N_("Alcohol"),
    "opioids": N_("Opioids"),
    "benzodiazepines": N_("Benzodiazepines"),
    "cocaine": N_("Cocaine"),
    "methamphetamine": N_("Methamphetamine"),
}

PAYMENT_OPTIONS: dict[str, str] = {
    "self_pay": N_("Cash or self-payment"),
    "private_insurance": N_("Private health insurance"),
    "medicaid": N_("Medicaid"),
    "medicare": N_("Medicare"),
    "military_insurance": N_("Military insurance (e.g. TRICARE)"),
    "state_financed": N_("State-financed health insurance"),
    "sliding_scale": N_("Sliding fee scale (based on income)"),
    "payment_assistance": N_("Payment assistance"),
    "free_care": N_("Free care (no payment accepted)"),
    "ihs_tribal": N_("IHS/tribal/urban (ITU) funds"),
    "atr_voucher": N_("Access to Recovery (ATR) voucher"),
}

MEDICATIONS: dict[str, str] = {
    "naltrexone_oral": N_("Naltrexone (oral)"),
    "naltrexone_injectable": N_("Naltrexone injection (Vivitrol)"),
    "buprenorphine": N_("Buprenorphine"),
    "methadone": N_("Methadone"),
}

#: Search-only medication filter values that stand for several stored codes.
MEDICATION_GROUPS: dict[str, tuple[str, ...]] = {
    "naltrexone": ("naltrexone_oral", "naltrexone_injectable"),
}

POPULATIONS: dict[str, str] = {
    "adolescents": N_("Adolescents"),
    "children": N_("Children and adolescents"),
    "young_adults": N_("Young adults"),
    "adults": N_("Adults"),
    "seniors": N_("Seniors or older adults"),
    "adult_women": N_("Adult women"),
    "adult_men": N_("Adult men"),
    "female": N_("Female clients"),
    "male": N_("Male clients"),
    "pregnant_postpartum": N_("Pregnant or postpartum women"),
    "residential_beds_for_children": N_("Residential beds for clients' children"),
    "lgbtq": N_("Lesbian, gay, bisexual, transgender or queer clients"),
    "veterans": N_("Veterans"),
    "active_duty_military": N_("Active-duty military"),
    "military_families": N_("Military families"),
    "criminal_justice": N_("Clients referred from the courts / criminal justice"),
    "dui_dwi": N_("DUI/DWI clients"),
    "co_occurring": N_("Co-occurring mental and substance use disorders"),
    "hiv_aids": N_("People with HIV or AIDS"),
    "trauma": N_("People who have experienced trauma"),
    "sexual_abuse": N_("People who have experienced sexual abuse"),
    "domestic_violence": N_("People who have experienced intimate partner or domestic violence"),
    "methadone_clients_only": N_("Serves methadone clients only"),
    "methadone_buprenorphine_clients_only": N_("Serves methadone and buprenorphine clients only"),
    "dui_dwi_clients_only": N_("Serves DUI/DWI clients only"),
}

LANGUAGES: dict[str, str] = {
    "es": N_("Spanish"),
    "asl": N_("Services for the deaf and hard of hearing (incl. sign language)"),
    "other_languages": N_("Other languages"),
    "native_american_languages": N_("American Indian or Alaska Native languages"),
    # Specific American Indian and Alaska Native languages (ISO 639 where one exists).
    "ath": N_("Athabascan"),
    "bla": N_("Blackfoot"),
    "chy": N_("Cheyenne"),
    "cic": N_("Chickasaw"),
    "cho": N_("Choctaw"),
    "cro": N_("Crow"),
    "hop": N_("Hopi"),
    "ik": N_("Inupiaq"),
    "kee": N_("Keres"),
    "lkt": N_("Lakota"),
    "lumbee": N_("Lumbee"),
    "nv": N_("Navajo"),
    "oj": N_("Ojibwa / Anishinaabemowin"),
    "pqm": N_("Passamaquoddy"),
    "pima": N_("Pima"),
    "sal": N_("Salish"),
    "shh": N_("Shoshoni"),
    "tew": N_("Tewa"),
    "tix": N_("Tiwa"),
    "ood": N_("Tohono O'odham"),
    "tow": N_("Towa"),
    "ale": N_("Unangax (Aleut)"),
    "ypk": N_("Yupik"),
    # Other languages.
    "akha": N_("Akha"),
    "sq": N_("Albanian"),
    "am": N_("Amharic"),
    "ar": N_("Arabic"),
    "hy": N_("Armenian"),
    "bm": N_("Bambara"),
    "bn": N_("Bengali"),
    "bs": N_("Bosnian"),
    "bg": N_("Bulgarian"),
    "my": N_("Burmese"),
    "cld": N_("Chaldean"),
    "ch": N_("Chamorro"),
    "zh": N_("Chinese"),
    "crp": N_("Creole"),
    "hr": N_("Croatian"),
    "da": N_("Danish"),
    "prs": N_("Dari"),
    "nl": N_("Dutch"),
    "dz": N_("Dzongkha"),
    "fa": N_("Farsi"),
    "fr": N_("French"),
    "de": N_("German"),
    "el": N_("Greek"),
    "gu": N_("Gujarati"),
    "ha": N_("Hausa"),
    "haw": N_("Hawaiian"),
    "he": N_("Hebrew"),
    "hi": N_("Hindi"),
    "hmn": N_("Hmong"),
    "hu": N_("Hungarian"),
    "ig": N_("Igbo"),
    "ilo": N_("Ilocano"),
    "it": N_("Italian"),
    "ja": N_("Japanese"),
    "km": N_("Khmer"),
    "ko": N_("Korean"),
    "ku": N_("Kurdish"),
    "lo": N_("Lao"),
    "lt": N_("Lithuanian"),
    "lg": N_("Luganda"),
    "mk": N_("Macedonian"),
    "mr": N_("Marathi"),
    "mien": N_("Mien"),
    "pau": N_("Palauan"),
    "pa": N_("Panjabi"),
    "pis": N_("Pidgin"),
    "pl": N_("Polish"),
    "pt": N_("Portuguese"),
    "ro": N_("Romanian"),
    "rn": N_("Rundi"),
    "ru": N_("Russian"),
    "sr": N_("Serbian"),
    "sh": N_("Serbian/Croatian"),
    "sk": N_("Slovak"),
    "so": N_("Somali"),
    "sw": N_("Swahili"),
    "tl": N_("Tagalog"),
    "tg": N_("Tajik"),
    "th": N_("Thai"),
    "to": N_("Tongan"),
    "tr": N_("Turkish"),
    "uk": N_("Ukrainian"),
    "ur": N_("Urdu"),
    "ug": N_("Uyghur"),
    "uz": N_("Uzbek"),
    "vi": N_("Vietnamese"),
    "yap": N_("Yapese"),
    "yo": N_("Yoruba"),
}

#: The multi-valued attributes of a center, by the name used in CSV, JSON and URLs.
ATTRIBUTE_VOCABULARIES: dict[str, dict[str, str]] = {
    "levels_of_care": LEVELS_OF_CARE,
    "detox_substances": DETOX_SUBSTANCES,
    "payment_options": PAYMENT_OPTIONS,
    "medications": MEDICATIONS,
    "populations": POPULATIONS,
    "languages": LANGUAGES,
}

#: US states, DC, and the territories and freely associated states the directory covers.
STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "FM": "Micronesia", "MH": "Marshall Islands", "PW": "Palau",
}  # fmt: skip


def label(attribute: str, code: str) -> str:
    """The plain-words label of a vocabulary code (the code itself if unknown)."""
    return ATTRIBUTE_VOCABULARIES[attribute].get(code, code)


def expand_medication_filter(values: list[str]) -> list[str]:
    """Stored medication codes matched by a search filter (`naltrexone` = either form)."""
    codes: list[str] = []
    for value in values:
        codes.extend(MEDICATION_GROUPS.get(value, (value,)))
    return list(dict.fromkeys(codes))
