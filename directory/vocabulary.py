"""The public vocabulary: the codes used in CSV files, URLs and JSON, with plain-words labels.

Importers translate each source's own codes or labels into these; nothing outside
`directory.sources` knows any source's codes.
"""

from __future__ import annotations

LEVELS_OF_CARE: dict[str, str] = {
    "medical_detox": "Medical detox (24-hour medically monitored withdrawal)",
    "outpatient_detox": "Outpatient detox",
    "hospital_inpatient": "Hospital inpatient treatment",
    "residential": "Residential treatment",
    "residential_short": "Short-term residential (30 days or less)",
    "residential_long": "Long-term residential (more than 30 days)",
    "partial_hospitalization": "Partial hospitalization / day treatment",
    "intensive_outpatient": "Intensive outpatient",
    "outpatient": "Outpatient",
    "transitional_housing": "Transitional housing / halfway house",
}

#: What a center offers detox (medically managed withdrawal) for.
DETOX_SUBSTANCES: dict[str, str] = {
    "alcohol": "Alcohol",
    "opioids": "Opioids",
    "benzodiazepines": "Benzodiazepines",
    "cocaine": "Cocaine",
    "methamphetamine": "Methamphetamine",
}

PAYMENT_OPTIONS: dict[str, str] = {
    "self_pay": "Cash or self-payment",
    "private_insurance": "Private health insurance",
    "medicaid": "Medicaid",
    "medicare": "Medicare",
    "military_insurance": "Military insurance (e.g. TRICARE)",
    "state_financed": "State-financed health insurance",
    "sliding_scale": "Sliding fee scale (based on income)",
    "payment_assistance": "Payment assistance",
    "free_care": "Free care (no payment accepted)",
    "ihs_tribal": "IHS/tribal/urban (ITU) funds",
    "atr_voucher": "Access to Recovery (ATR) voucher",
}

MEDICATIONS: dict[str, str] = {
    "naltrexone_oral": "Naltrexone (oral)",
    "naltrexone_injectable": "Naltrexone injection (Vivitrol)",
    "buprenorphine": "Buprenorphine",
    "methadone": "Methadone",
}

#: Search-only medication filter values that stand for several stored codes.
MEDICATION_GROUPS: dict[str, tuple[str, ...]] = {
    "naltrexone": ("naltrexone_oral", "naltrexone_injectable"),
}

POPULATIONS: dict[str, str] = {
    "adolescents": "Adolescents",
    "children": "Children and adolescents",
    "young_adults": "Young adults",
    "adults": "Adults",
    "seniors": "Seniors or older adults",
    "adult_women": "Adult women",
    "adult_men": "Adult men",
    "female": "Female clients",
    "male": "Male clients",
    "pregnant_postpartum": "Pregnant or postpartum women",
    "residential_beds_for_children": "Residential beds for clients' children",
    "lgbtq": "Lesbian, gay, bisexual, transgender or queer clients",
    "veterans": "Veterans",
    "active_duty_military": "Active-duty military",
    "military_families": "Military families",
    "criminal_justice": "Clients referred from the courts / criminal justice",
    "dui_dwi": "DUI/DWI clients",
    "co_occurring": "Co-occurring mental and substance use disorders",
    "hiv_aids": "People with HIV or AIDS",
    "trauma": "People who have experienced trauma",
    "sexual_abuse": "People who have experienced sexual abuse",
    "domestic_violence": "People who have experienced intimate partner or domestic violence",
    "methadone_clients_only": "Serves methadone clients only",
    "methadone_buprenorphine_clients_only": "Serves methadone and buprenorphine clients only",
    "dui_dwi_clients_only": "Serves DUI/DWI clients only",
}

LANGUAGES: dict[str, str] = {
    "es": "Spanish",
    "asl": "Services for the deaf and hard of hearing (incl. sign language)",
    "other_languages": "Other languages",
    "native_american_languages": "American Indian or Alaska Native languages",
    # Specific American Indian and Alaska Native languages (ISO 639 where one exists).
    "ath": "Athabascan",
    "bla": "Blackfoot",
    "chy": "Cheyenne",
    "cic": "Chickasaw",
    "cho": "Choctaw",
    "cro": "Crow",
    "hop": "Hopi",
    "ik": "Inupiaq",
    "kee": "Keres",
    "lkt": "Lakota",
    "lumbee": "Lumbee",
    "nv": "Navajo",
    "oj": "Ojibwa / Anishinaabemowin",
    "pqm": "Passamaquoddy",
    "pima": "Pima",
    "sal": "Salish",
    "shh": "Shoshoni",
    "tew": "Tewa",
    "tix": "Tiwa",
    "ood": "Tohono O'odham",
    "tow": "Towa",
    "ale": "Unangax (Aleut)",
    "ypk": "Yupik",
    # Other languages.
    "akha": "Akha",
    "sq": "Albanian",
    "am": "Amharic",
    "ar": "Arabic",
    "hy": "Armenian",
    "bm": "Bambara",
    "bn": "Bengali",
    "bs": "Bosnian",
    "bg": "Bulgarian",
    "my": "Burmese",
    "cld": "Chaldean",
    "ch": "Chamorro",
    "zh": "Chinese",
    "crp": "Creole",
    "hr": "Croatian",
    "da": "Danish",
    "prs": "Dari",
    "nl": "Dutch",
    "dz": "Dzongkha",
    "fa": "Farsi",
    "fr": "French",
    "de": "German",
    "el": "Greek",
    "gu": "Gujarati",
    "ha": "Hausa",
    "haw": "Hawaiian",
    "he": "Hebrew",
    "hi": "Hindi",
    "hmn": "Hmong",
    "hu": "Hungarian",
    "ig": "Igbo",
    "ilo": "Ilocano",
    "it": "Italian",
    "ja": "Japanese",
    "km": "Khmer",
    "ko": "Korean",
    "ku": "Kurdish",
    "lo": "Lao",
    "lt": "Lithuanian",
    "lg": "Luganda",
    "mk": "Macedonian",
    "mr": "Marathi",
    "mien": "Mien",
    "pau": "Palauan",
    "pa": "Panjabi",
    "pis": "Pidgin",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "rn": "Rundi",
    "ru": "Russian",
    "sr": "Serbian",
    "sh": "Serbian/Croatian",
    "sk": "Slovak",
    "so": "Somali",
    "sw": "Swahili",
    "tl": "Tagalog",
    "tg": "Tajik",
    "th": "Thai",
    "to": "Tongan",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "ug": "Uyghur",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "yap": "Yapese",
    "yo": "Yoruba",
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
