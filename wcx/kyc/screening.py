"""Sanctions and PEP screening: lists in the OFAC SDN CSV layout, fuzzy name matching with rapidfuzz.

SDN layout (no header, "-0-" means empty): ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks. Individuals are written "LAST, First";
the remarks carry "DOB 12 Mar 1961" (or "DOB 1961", "DOB circa 1961", "DOB 1960 to 1962"),
"nationality Iran", "citizen Iran", and aliases as "a.k.a. 'NAME'". A PEP list uses the same layout.

A candidate is an entry whose best name (primary or alias) scores at least the threshold
(token-sort ratio, accents and punctuation folded). Date of birth and country then break the tie:
a date of birth that disagrees clears the candidate unless the name is an exact match and the
country agrees; a date of birth that agrees makes it a hit; with no date to compare, a strong name
match (≥ STRONG) or a country that does not disagree makes it a hit. Every hit goes to manual review.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pycountry
from rapidfuzz import fuzz, process

from wcx.kyc.errors import KycConfigError

STRONG = 95.0
EMPTY = "-0-"
SDN_COLUMNS = 12
Agreement = Literal["match", "mismatch", "unknown"]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_DOB = re.compile(
    r"DOB\s+(?:circa\s+)?(?:(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+)?(\d{4})(?:\s+to\s+(?:\d{1,2}\s+[A-Za-z]{3}\s+)?(\d{4}))?",
    re.IGNORECASE,
)
_NATIONALITY = re.compile(
    r"(?:nationality|citizen)\s+([A-Za-z ,.'-]+?)(?:;|\.|$|\s\(|\sa\.k\.a)", re.IGNORECASE
)
_AKA = re.compile(r"(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s+'([^']+)'", re.IGNORECASE)
# OFAC writes some countries by names ISO does not use.
_COUNTRY_ALIASES = {
    "russia": "RU",
    "korea, north": "KP",
    "north korea": "KP",
    "korea, south": "KR",
    "south korea": "KR",
    "burma": "MM",
    "congo, democratic republic of the": "CD",
    "congo, republic of the": "CG",
    "turkey": "TR",
    "west bank": "PS",
    "gaza": "PS",
    "palestinian": "PS",
    "laos": "LA",
    "vietnam": "VN",
    "moldova": "MD",
    "tanzania": "TZ",
    "taiwan": "TW",
    "czech republic": "CZ",
    "cote d ivoire": "CI",
    "kosovo": "XK",
    "iran": "IR",
    "syria": "SY",
    "venezuela": "VE",
    "bolivia": "BO",
    "macau": "MO",
    "united states": "US",
    "united kingdom": "GB",
}


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One person or organisation on a screening list."""

    uid: str
    name: str
    kind: str
    program: str
    names: tuple[str, ...]
    """Folded forms of the primary name and every alias."""
    birth_years: tuple[int, int] | None
    birth_date: date | None
    countries: frozenset[str]


@dataclass(frozen=True, slots=True)
class ScreeningList:
    """A loaded list: its name, a digest of its content (changes when the file changes), entries."""

    name: str
    digest: str
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is screened."""

    full_name: str
    date_of_birth: date | None = None
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Match:
    """A hit: the entry, the name score and how date of birth and country compared."""

    list_name: str
    list_digest: str
    entry: ListEntry
    score: float
    dob: Agreement
    country: Agreement


def fold(name: str) -> str:
    """Lower case, accents removed, punctuation to spaces, "LAST, First" kept as tokens."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).split())


@lru_cache(maxsize=4096)
def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country name as OFAC writes it, or None."""
    key = fold(name).strip()
    if not key:
        return None
    alias = _COUNTRY_ALIASES.get(key) or _COUNTRY_ALIASES.get(name.strip().lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(name.strip()).alpha_2)
    except LookupError:
        return None


def _birth(remarks: str) -> tuple[tuple[int, int] | None, date | None]:
    match = _DOB.search(remarks)
    if match is None:
        return None, None
    day, month, year, until = match.groups()
    first = int(year)
    years = (first, int(until) if until else first)
    exact = None
    if day and month and month[:3].lower() in _MONTHS:
        try:
            exact = date(first, _MONTHS[month[:3].lower()], int(day))
        except ValueError:
            exact = None
    return years, exact


def _field(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY else value


def parse_sdn(text: str, name: str) -> ScreeningList:
    """Parse SDN-layout CSV text into a list (rows with too few columns are a KycConfigError)."""
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < SDN_COLUMNS:
            raise KycConfigError(
                f"screening list {name}: row {number} has {len(row)} columns, not {SDN_COLUMNS}"
            )
        uid, primary, kind, program = (_field(c) for c in row[:4])
        remarks = _field(row[11])
        if not uid or not primary:
            raise KycConfigError(f"screening list {name}: row {number} lacks ent_num or name")
        aliases = _AKA.findall(remarks)
        years, exact = _birth(remarks)
        countries = frozenset(
            code for code in (country_code(c) for c in _NATIONALITY.findall(remarks)) if code is not None
        )
        folded = tuple(dict.fromkeys(fold(n) for n in (primary, *aliases) if fold(n)))
        entries.append(ListEntry(uid, primary, kind.lower(), program, folded, years, exact, countries))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return ScreeningList(name, digest, tuple(entries))


def load_list(name: str, path: Path) -> ScreeningList:
    """Read one list file (UTF-8, or Latin-1 as OFAC publishes it)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KycConfigError(f"screening list {name}: {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_sdn(text, name)


def _dob_agreement(entry: ListEntry, born: date | None) -> Agreement:
    if born is None or entry.birth_years is None:
        return "unknown"
    if entry.birth_date is not None:
        return "match" if entry.birth_date == born else "mismatch"
    low, high = entry.birth_years
    return "match" if low <= born.year <= high else "mismatch"


def _country_agreement(entry: ListEntry, countries: frozenset[str]) -> Agreement:
    if not entry.countries or not countries:
        return "unknown"
    return "match" if entry.countries & countries else "mismatch"


class Screener:
    """Matches subjects against loaded lists."""

    def __init__(self, lists: Iterable[ScreeningList], threshold: float = 88.0) -> None:
        self.lists = {item.name: item for item in lists}
        self.threshold = threshold

    def screen(self, subject: Subject) -> list[Match]:
        """Every hit for `subject` over all lists, best score first."""
        query = fold(subject.full_name)
        if not query:
            return []
        hits = []
        for screening_list in self.lists.values():
            for entry in screening_list.entries:
                found = process.extractOne(
                    query, entry.names, scorer=fuzz.token_sort_ratio, score_cutoff=self.threshold
                )
                if found is None:
                    continue
                score = float(found[1])
                # Entities ("-0-" type) and vessels only count on a near-exact name: users are people.
                if entry.kind != "individual" and score < STRONG:
                    continue
                dob = _dob_agreement(entry, subject.date_of_birth)
                country = _country_agreement(entry, subject.countries)
                if dob == "mismatch":
                    hit = score >= 100.0 and country == "match"
                elif dob == "match":
                    hit = True
                else:
                    hit = score >= STRONG or country != "mismatch"
                if hit:
                    hits.append(Match(screening_list.name, screening_list.digest, entry, score, dob, country))
        return sorted(hits, key=lambda m: -m.score)
