"""The project's own evaluation data for the matcher (docs/contracts/identity.md §5): people in two or more sources.

Deterministic for a seed. Every person gets a record in source ``ehr`` (its MRN namespace ``ehr-mrn``);
a share of them also appear in source ``fhir`` (namespace ``fhir-id``) and some in a third, ``lab``
(``lab-mrn``), each copy with one realistic slip: a typo in a name, a nickname, a married (or hyphenated)
name, two digits of the date of birth transposed, one digit changed, day and month swapped, a new e-mail,
first and last name swapped, a new area code, a missing e-mail or phone. A copy that keeps the same e-mail key and first-name
key would have been matched by the exact key (one patient, docs/contracts/imports.md "Matching"): it is not emitted as a
second patient and is counted as ``exact_key``.

Hard negatives (different people who look alike): twins sharing a surname, birth date, e-mail and phone;
father and son with the same first and last name (and phone); spouses sharing an e-mail and a surname;
people with common first and last names.

The data is made up: first names come from the ``nicknames`` package's name list, last names from a short
list of common surnames plus syllable-built ones for a long tail; nothing is read from any dataset.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

NAMESPACES = ("ehr-mrn", "fhir-id", "lab-mrn")

_COMMON_LAST = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson "
    "anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis "
    "robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall "
    "rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins "
    "reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly "
    "howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes "
    "price alvarez castillo sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan "
    "bell coleman butler henderson barnes gonzales fisher vasquez simmons romero jordan patterson alexander "
    "hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera gibson ellis tran medina "
    "aguilar stevens murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy"
).split()
_SYL_A = ("bal ber car dal fen gar hal kin lor mar nor pel quin ros sal tor val wen yar zel bran cor del "
          "fal gil har jas kel lin mor").split()
_SYL_B = ("ton son ley man berg field wood ford well stein ridge worth more by ham land dale er ing "
          "ski ez ini ova etti").split()
_DOMAINS = ("mail.example", "post.example", "inbox.example", "web.example", "net.example")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_NEIGHBOURS = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", "wertyuiopqsdfghjklaxcvbnmz", strict=True)}

#: The slips one copy of a person can carry, with their weights.
SLIPS = {
    "none": 8, "first_name_typo": 10, "last_name_typo": 8, "nickname": 10, "married_name": 8,
    "hyphenated_name": 4, "dob_transposed": 8, "dob_one_digit": 6, "dob_day_month_swap": 6,
    "new_email": 12, "names_swapped": 3, "missing_email": 6, "missing_phone": 5, "missing_dob": 3,
    "phone_area_code": 3,
}


@cache
def _first_names() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Formal first names (with the nicknames the ``nicknames`` package lists for them)."""
    from nicknames import name_triplets

    nicks: dict[str, list[str]] = {}
    for t in name_triplets():
        if str(getattr(t.relationship, "value", t.relationship)) == "has_nickname":
            nicks.setdefault(t.name1, []).append(t.name2)
    formal = tuple(sorted(nicks))
    return formal, {k: tuple(sorted(v)) for k, v in nicks.items()}


@dataclass(frozen=True)
class GenRecord:
    """One patient as the matcher sees it (before any key form is applied)."""

    record_id: str
    person_id: int
    source: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    email: str | None
    phone: str | None
    identifiers: tuple[tuple[str, str], ...]
    slip: str
    kind: str  # original | copy | twin | father | son | spouse | common


@dataclass
class GeneratedSet:
    records: list[GenRecord]
    true_pairs: set[tuple[str, str]]
    hard_negative_pairs: dict[tuple[str, str], str]
    counts: dict[str, int] = field(default_factory=dict)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class Generator:
    """``Generator(seed).generate(people)``: see the module docstring."""

    def __init__(self, seed: int = 7, *, duplicate_rate: float = 0.35, third_source_rate: float = 0.08,
                 hard_negative_rate: float = 0.06) -> None:
        self.rng = random.Random(seed)
        self.duplicate_rate = duplicate_rate
        self.third_source_rate = third_source_rate
        self.hard_negative_rate = hard_negative_rate
        self.formal, self.nicks = _first_names()
        # a Zipf-like weight: common names are much more common than rare ones
        self._first_weights = [1.0 / (i + 8) for i in range(len(self.formal))]
        tail = [a + b for a in _SYL_A for b in _SYL_B]
        self.last_names = tuple(_COMMON_LAST) + tuple(tail)
        self._last_weights = [1.0 / (i + 4) for i in range(len(_COMMON_LAST))] + [0.004] * len(tail)
        self._serial = 0

    # ------------------------------------------------------------------ attributes
    def _id(self) -> str:
        self._serial += 1
        return f"g{self._serial:08d}"

    def first_name(self) -> str:
        return self.rng.choices(self.formal, self._first_weights)[0]

    def last_name(self) -> str:
        return self.rng.choices(self.last_names, self._last_weights)[0]

    def dob(self, lo: int = 1935, hi: int = 2012) -> date:
        return date(lo, 1, 1) + timedelta(days=self.rng.randrange((date(hi, 12, 31) - date(lo, 1, 1)).days))

    def email(self, first: str, last: str) -> str:
        style = self.rng.randrange(4)
        local = (f"{first}.{last}", f"{first[0]}{last}", f"{first}{self.rng.randrange(10, 99)}",
                 f"{last}.{first[:3]}{self.rng.randrange(1, 999)}")[style]
        return f"{local}@{self.rng.choice(_DOMAINS)}"

    def phone(self) -> str:
        return f"+1{self.rng.randrange(200, 989)}{self.rng.randrange(200, 999)}{self.rng.randrange(0, 10_000):04d}"

    def typo(self, s: str) -> str:
        if len(s) < 3:
            return s + self.rng.choice(_ALPHABET)
        i = self.rng.randrange(1, len(s))
        op = self.rng.randrange(4)
        if op == 0:  # substitute by a keyboard neighbour
            return s[:i] + _NEIGHBOURS.get(s[i], "e") + s[i + 1:]
        if op == 1 and i < len(s) - 1:  # transpose
            return s[:i] + s[i + 1] + s[i] + s[i + 2:]
        if op == 2:  # drop
            return s[:i] + s[i + 1:]
        return s[:i] + s[i - 1] + s[i:]  # double

    def _dob_slip(self, d: date, slip: str) -> date | None:
        text = d.strftime("%Y%m%d")
        for _ in range(20):
            if slip == "dob_day_month_swap":
                cand = f"{text[:4]}{text[6:8]}{text[4:6]}"
            elif slip == "dob_transposed":
                i = self.rng.choice((2, 4, 6))  # two digits of the year, the month or the day
                cand = text[:i] + text[i + 1] + text[i] + text[i + 2:]
            else:
                i = self.rng.choice((3, 5, 6, 7))
                cand = text[:i] + str(self.rng.randrange(10)) + text[i + 1:]
            try:
                new = date(int(cand[:4]), int(cand[4:6]), int(cand[6:8]))
            except ValueError:
                continue
            if new != d and 1900 <= new.year <= 2024:
                return new
        return None

    # ------------------------------------------------------------------ records
    def _copy(self, orig: GenRecord, source: str, ns: str) -> GenRecord | None:
        slip = self.rng.choices(list(SLIPS), list(SLIPS.values()))[0]
        first, last, dob, email, phone = orig.first_name, orig.last_name, orig.date_of_birth, orig.email, orig.phone
        if slip == "first_name_typo":
            first = self.typo(first)
        elif slip == "last_name_typo":
            last = self.typo(last)
        elif slip == "nickname":
            options = self.nicks.get(first.lower(), ())
            if not options:
                slip, first = "first_name_typo", self.typo(first)
            else:
                first = self.rng.choice(options).capitalize()
        elif slip == "married_name":
            last = self.last_name().capitalize()
        elif slip == "hyphenated_name":
            last = f"{last}-{self.last_name().capitalize()}"
        elif slip.startswith("dob_"):
            if slip == "dob_day_month_swap" and dob is not None and dob.day > 12:
                slip = "dob_transposed"
            new = self._dob_slip(dob, slip) if dob is not None else None
            if new is None:
                slip = "none"
            else:
                dob = new
        elif slip == "new_email":
            email = self.email(first.lower(), self.last_name())
        elif slip == "names_swapped":
            first, last = last, first
        elif slip == "missing_email":
            email = None
        elif slip == "missing_phone":
            phone = None
        elif slip == "phone_area_code":  # moved: a new area code, the same local number
            phone = None if phone is None else f"+1{self.rng.randrange(200, 989)}{phone[-7:]}"
        elif slip == "missing_dob":
            dob = None
        # the second system often has another e-mail or none at all
        roll = self.rng.random()
        if slip not in ("new_email", "missing_email") and roll < 0.45:
            email = None if roll < 0.2 else self.email(first.lower(), last.lower())
        if email is not None and orig.email is not None and email.lower() == orig.email.lower() \
                and first.lower() == orig.first_name.lower():
            return None  # the exact key (e-mail + first name) makes it the same patient
        rid = self._id()
        return GenRecord(rid, orig.person_id, source, first, last, dob, email, phone,
                         ((ns, f"{ns[:3].upper()}{rid[1:]}"),), slip, "copy")

    def _person(self, pid: int, *, first: str | None = None, last: str | None = None, dob: date | None = None,
                email: str | None = None, phone: str | None = None, kind: str = "original") -> GenRecord:
        first = first or self.first_name().capitalize()
        last = last or self.last_name().capitalize()
        dob = dob or self.dob()
        if email is None and self.rng.random() < 0.9:
            email = self.email(first.lower(), last.lower())
        if phone is None and self.rng.random() < 0.85:
            phone = self.phone()
        rid = self._id()
        return GenRecord(rid, pid, "ehr", first, last, dob, email, phone, (("ehr-mrn", f"EHR{rid[1:]}"),),
                         "none", kind)

    def generate(self, people: int) -> GeneratedSet:
        records: list[GenRecord] = []
        true_pairs: set[tuple[str, str]] = set()
        hard: dict[tuple[str, str], str] = {}
        counts: dict[str, int] = {}
        pid = 0
        while pid < people:
            pid += 1
            orig = self._person(pid)
            records.append(orig)
            copies = [orig]
            if self.rng.random() < self.duplicate_rate:
                second = ("ehr", "ehr-mrn") if self.rng.random() < 0.1 else ("fhir", "fhir-id")  # or a re-registration
                for source, ns in (second, ("lab", "lab-mrn")):
                    if ns == "lab-mrn" and self.rng.random() >= self.third_source_rate / self.duplicate_rate:
                        break
                    c = self._copy(orig, source, ns)
                    if c is None:
                        counts["exact_key"] = counts.get("exact_key", 0) + 1
                        continue
                    counts[f"slip:{c.slip}"] = counts.get(f"slip:{c.slip}", 0) + 1
                    records.append(c)
                    for other in copies:
                        true_pairs.add(_pair(other.record_id, c.record_id))
                    copies.append(c)
            if self.rng.random() < self.hard_negative_rate and pid < people:
                kind = self.rng.choice(("twin", "father_son", "spouse", "common"))
                pid += 1
                if kind == "twin":  # same surname, birth date, e-mail and phone; another first name
                    other = self._person(pid, last=orig.last_name, dob=orig.date_of_birth, email=orig.email,
                                         phone=orig.phone, kind="twin",
                                         first=self._other_first(orig.first_name))
                elif kind == "father_son":  # same first and last name and phone, a generation apart
                    other = self._person(pid, first=orig.first_name, last=orig.last_name, phone=orig.phone,
                                         dob=self.dob(orig.date_of_birth.year - 34, orig.date_of_birth.year - 22)
                                         if orig.date_of_birth.year > 1960 else
                                         self.dob(orig.date_of_birth.year + 22, orig.date_of_birth.year + 34),
                                         kind="father_son")
                elif kind == "spouse":  # shares the e-mail and the surname
                    other = self._person(pid, last=orig.last_name, email=orig.email,
                                         first=self._other_first(orig.first_name), kind="spouse")
                else:  # a common name, otherwise a different person
                    other = self._person(pid, first=orig.first_name, last=orig.last_name, kind="common")
                if self.rng.random() < 0.5:  # half of them come through the second source
                    other = GenRecord(other.record_id, other.person_id, "fhir", other.first_name, other.last_name,
                                      other.date_of_birth, other.email, other.phone,
                                      (("fhir-id", f"FHI{other.record_id[1:]}"),), other.slip, other.kind)
                records.append(other)
                hard[_pair(orig.record_id, other.record_id)] = kind
                counts[f"hard:{kind}"] = counts.get(f"hard:{kind}", 0) + 1
        counts["records"] = len(records)
        counts["true_pairs"] = len(true_pairs)
        return GeneratedSet(records, true_pairs, hard, counts)

    def _other_first(self, first: str) -> str:
        while True:
            other = self.first_name().capitalize()
            if other.lower() != first.lower() and other.lower() not in self.nicks.get(first.lower(), ()):
                return other


def iter_rows(records: list[GenRecord]) -> Iterator[tuple]:
    """(id, first, last, dob, email, phone) rows."""
    for r in records:
        yield r.record_id, r.first_name, r.last_name, r.date_of_birth, r.email, r.phone
