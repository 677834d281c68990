"""Language metadata for the per-language views: family, script and resource level.

Families and scripts: the XTREME paper's language table (Hu et al. 2020, "XTREME: A Massively
Multilingual Multi-task Benchmark ...", Table 5) and XTREME-R's additions (Ruder et al. 2021),
family at the top level of Glottolog (https://glottolog.org). Resource level: the class (0-5) of
Joshi et al. 2020, "The State and Fate of Linguistic Diversity and Inclusion in the NLP World"
(ACL), from its published taxonomy file
https://microsoft.github.io/linguisticdiversity/assets/lang2tax.txt (5 = "winners" with abundant
labelled and unlabelled data, 0 = "left-behinds"). The table covers every language of the XTREME
and XTREME-R tasks in the catalog; another code is reported as ``unlisted``, never guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

UNLISTED = "unlisted"

# Joshi et al. 2020 class -> the paper's name for it.
RESOURCE_CLASSES: Mapping[int, str] = {
    5: "5 winners",
    4: "4 underdogs",
    3: "3 rising stars",
    2: "2 hopefuls",
    1: "1 scraping-bys",
    0: "0 left-behinds",
}


@dataclasses.dataclass(frozen=True)
class Language:
    """One language: its name, top-level family, script and Joshi et al. 2020 resource class."""

    code: str
    name: str
    family: str
    script: str
    resource_class: int | None

    @property
    def resource_level(self) -> str:
        """The resource class as a label (``"5 winners"``) or ``unlisted``."""
        return UNLISTED if self.resource_class is None else RESOURCE_CLASSES[self.resource_class]


_IE = "Indo-European"
_TABLE = (
    # code, name, family, script, Joshi class
    ("af", "Afrikaans", _IE, "Latin", 3),
    ("ar", "Arabic", "Afro-Asiatic", "Arabic", 5),
    ("az", "Azerbaijani", "Turkic", "Latin", 1),
    ("bg", "Bulgarian", _IE, "Cyrillic", 3),
    ("bn", "Bengali", _IE, "Bengali", 3),
    ("de", "German", _IE, "Latin", 5),
    ("el", "Greek", _IE, "Greek", 3),
    ("en", "English", _IE, "Latin", 5),
    ("es", "Spanish", _IE, "Latin", 5),
    ("et", "Estonian", "Uralic", "Latin", 3),
    ("eu", "Basque", "Basque (isolate)", "Latin", 4),
    ("fa", "Persian", _IE, "Arabic", 4),
    ("fi", "Finnish", "Uralic", "Latin", 4),
    ("fr", "French", _IE, "Latin", 5),
    ("gu", "Gujarati", _IE, "Gujarati", 1),
    ("he", "Hebrew", "Afro-Asiatic", "Hebrew", 3),
    ("hi", "Hindi", _IE, "Devanagari", 4),
    ("ht", "Haitian Creole", "Creole (French-based)", "Latin", 2),
    ("hu", "Hungarian", "Uralic", "Latin", 4),
    ("id", "Indonesian", "Austronesian", "Latin", 3),
    ("it", "Italian", _IE, "Latin", 4),
    ("ja", "Japanese", "Japonic", "Japanese (kanji, kana)", 5),
    ("jv", "Javanese", "Austronesian", "Latin", 1),
    ("ka", "Georgian", "Kartvelian", "Georgian", 3),
    ("kk", "Kazakh", "Turkic", "Cyrillic", 3),
    ("ko", "Korean", "Koreanic", "Hangul", 4),
    ("lt", "Lithuanian", _IE, "Latin", 3),
    ("ml", "Malayalam", "Dravidian", "Malayalam", 1),
    ("mr", "Marathi", _IE, "Devanagari", 2),
    ("ms", "Malay", "Austronesian", "Latin", 3),
    ("my", "Burmese", "Sino-Tibetan", "Myanmar", 1),
    ("nl", "Dutch", _IE, "Latin", 4),
    ("pa", "Punjabi", _IE, "Gurmukhi", 2),
    ("pl", "Polish", _IE, "Latin", 4),
    ("pt", "Portuguese", _IE, "Latin", 4),
    ("qu", "Quechua", "Quechuan", "Latin", 1),
    ("ro", "Romanian", _IE, "Latin", 3),
    ("ru", "Russian", _IE, "Cyrillic", 4),
    ("sw", "Swahili", "Niger-Congo", "Latin", 2),
    ("ta", "Tamil", "Dravidian", "Tamil", 3),
    ("te", "Telugu", "Dravidian", "Telugu", 1),
    ("th", "Thai", "Kra-Dai", "Thai", 3),
    ("tl", "Tagalog", "Austronesian", "Latin", 3),
    ("tr", "Turkish", "Turkic", "Latin", 4),
    ("uk", "Ukrainian", _IE, "Cyrillic", 3),
    ("ur", "Urdu", _IE, "Arabic", 3),
    ("vi", "Vietnamese", "Austroasiatic", "Latin", 4),
    ("wo", "Wolof", "Niger-Congo", "Latin", 2),
    ("yo", "Yoruba", "Niger-Congo", "Latin", 2),
    ("zh", "Chinese", "Sino-Tibetan", "Han", 5),
)
LANGUAGES: Mapping[str, Language] = {row[0]: Language(*row) for row in _TABLE}

# The groupings of the per-language view: grouping name -> what it reads off a Language.
GROUPINGS: Mapping[str, str] = {
    "resource level (Joshi et al. 2020)": "resource_level",
    "family": "family",
    "script": "script",
}


def language(code: str) -> Language:
    """The table entry of ``code``; a code not in the table gets ``unlisted`` family, script and class."""
    return LANGUAGES.get(code) or Language(code, code, UNLISTED, UNLISTED, None)


def group_of(code: str, grouping: str) -> str:
    """The group of language ``code`` under one of ``GROUPINGS``."""
    return str(getattr(language(code), GROUPINGS[grouping]))
