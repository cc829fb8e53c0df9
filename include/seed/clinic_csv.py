"""A synthetic clinic CSV in the platform header, streamed to disk (bounded memory at any size).

Mix per BENCHMARKS.md: ~5% rows match existing patients (e-mail + first name of seeded invites),
~0.5% rows repeat an earlier row of the same file verbatim, ~1% rows are defective (one of: bad
e-mail, bad date of birth, missing first name, unparseable phone, in that rotation); the rest are
new people. A matching row is the clinic's copy of the person: the e-mail clean (its key form), the names
as the invite had them trimmed of noise (one person per key form, docs/contracts/data-model.md §4 rule 3). Matches come from the database at ``match_uri`` when given, else from the pure legacy
generator for ``match_invites`` invites with the same seed (what ``python -m include.seed`` loads),
else there are none. Everything is fictional and deterministic in ``seed``.
"""

from __future__ import annotations

import csv
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psycopg

from include.core import db, private_files
from include.normalize import keys
from include.seed import vocab
from include.seed.generator import LegacyGenerator

CLINIC_HEADER = ("email", "first_name", "last_name", "phone", "external_id", "date_of_birth")
MATCH_SHARE = 0.05
DUPLICATE_SHARE = 0.005
DEFECT_SHARE = 0.01
DEFECT_KINDS = ("bad_email", "bad_dob", "missing_first_name", "unparseable_phone")
_BAD_EMAILS = ("not-an-email", "jane.doe@@example.org", "john doe@example.org", "@example.net", "anna@")
_BAD_DOBS = ("1980-02-30", "31/31/1970", "not a date", "19xx-01-01", "2019-13-01")
_BAD_PHONES = ("12", "n/a", "call me", "555-CALL-NOW", "++--")
_WRITE_BATCH = 10_000

#: One sample of distinct named persons among the seeded invites (optionally in one account),
#: in an order fixed by the seed. Read-only.
MATCH_SQL = """
SELECT email, first_name, last_name, phone FROM (
    SELECT DISTINCT ON (lower(btrim(i.email)), lower(btrim(i.first_name)))
           btrim(i.email) AS email, btrim(i.first_name) AS first_name, btrim(i.last_name) AS last_name,
           i.phone, md5(i.id || %(seed)s) AS draw
      FROM invites i
      LEFT JOIN users c ON c.id = i.clinician_id
     WHERE i.first_name IS NOT NULL AND btrim(i.first_name) <> ''
       AND i.last_name IS NOT NULL AND btrim(i.last_name) <> ''
       AND (%(account)s::text IS NULL OR c.account_id = %(account)s::text)
     ORDER BY lower(btrim(i.email)), lower(btrim(i.first_name)), i.created_at DESC, i.id
) persons
ORDER BY draw
LIMIT %(limit)s
"""

Match = tuple[str, str, str, str | None]


@dataclass
class ClinicCsvSummary:
    """What the file holds: counts only."""

    rows: int = 0
    new_people: int = 0
    matching: int = 0
    duplicates: int = 0
    defective: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEFECT_KINDS, 0))
    match_source: str = "none"

    def render(self) -> str:
        parts = [f"clinic csv: rows={self.rows} new={self.new_people} matching={self.matching} "
                 f"duplicates={self.duplicates} defective={sum(self.defective.values())} "
                 f"(match source: {self.match_source})"]
        parts += [f"  defective {k:<20} {n:>8}" for k, n in self.defective.items()]
        return "\n".join(parts)


def _clinic_copy(email: str, first: str, last: str, phone: str | None) -> Match:
    """The clinic's record of a seeded person: e-mail in its key form, names trimmed of noise."""
    return (keys.email_key(email), keys.trim_noise(first), keys.trim_noise(last), phone)  # type: ignore[return-value]


def _one_per_person(matches: list[Match]) -> list[Match]:
    """One match per (e-mail key, first-name key): noisy variants of one person are one person."""
    seen: set[tuple[str | None, str | None]] = set()
    out = []
    for m in matches:
        key = (keys.email_key(m[0]), keys.key_form(m[1]))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def matches_from_database(uri: str, limit: int, seed: int, account_id: str | None = None) -> list[Match]:
    with psycopg.connect(db.to_libpq_uri(uri), application_name="genascope_seed") as conn:
        cur = conn.execute(MATCH_SQL, {"seed": str(seed), "account": account_id, "limit": limit})
        return _one_per_person([_clinic_copy(*r) for r in cur.fetchall()])


def matches_from_generator(invites: int, limit: int, seed: int, account_id: str | None = None,
                           missing_names: int = 0) -> list[Match]:
    """Named persons of the pure generator's invites (one pass, keeps only ``limit`` of them)."""
    gen = LegacyGenerator(invites, seed, missing_names=missing_names)
    step = max(1, invites // max(1, limit) // 2)
    account_of: dict[str, str | None] = {}
    seen: set[tuple[str, str]] = set()
    out: list[Match] = []
    n = 0
    for chunk in gen.chunks():
        if len(out) >= limit:
            break  # the rest of the stream cannot add matches
        for u in chunk.users:
            if u[3].lower() != "patient":
                account_of[u[0]] = u[5]  # type: ignore[index]
        for inv in chunk.invites:
            n += 1
            first, last = inv[2], inv[3]
            if n % step or not first or not last or len(out) >= limit:
                continue
            if account_id is not None and account_of.get(inv[6]) != account_id:  # type: ignore[arg-type]
                continue
            key = (keys.email_key(str(inv[1])), keys.key_form(str(first)))
            if key not in seen:
                seen.add(key)
                out.append(_clinic_copy(str(inv[1]), str(first), str(last), inv[4]))  # type: ignore[arg-type]
    random.Random(f"clinic-match-{seed}").shuffle(out)
    return out


class _Rows:
    """Fresh people and defective variants, deterministic in the seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"clinic-csv-{seed}")
        self.defects = 0

    def _pick(self, seq):
        return seq[int(self.rng.random() * len(seq))]

    def phone(self) -> str:
        rng = self.rng
        d = f"{self._pick(vocab.AREA_CODES)}5550{100 + int(rng.random() * 100)}"
        shape = int(rng.random() * 6)
        return (f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]}-{d[6:]}", d, f"+1{d}",
                f"+1 {d[:3]} {d[3:6]} {d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}")[shape]

    def dob(self) -> str:
        return (date(1935, 1, 1) + timedelta(days=int(self.rng.random() * 25500))).isoformat()

    def fresh(self, i: int) -> list[str]:
        rng = self.rng
        names = vocab.FIRST_NAMES_FEMALE if rng.random() < 0.55 else vocab.FIRST_NAMES_MALE
        first, last = self._pick(names), self._pick(vocab.LAST_NAMES)
        email = f"{first.lower().replace(' ', '')}.{last.lower()}.k{i:x}@{self._pick(vocab.PATIENT_DOMAINS)}"
        phone = self.phone() if rng.random() < 0.9 else ""
        return [email, first, last, phone, f"MRN{i + 1:08d}", self.dob() if rng.random() < 0.97 else ""]

    def matching(self, i: int, match: Match) -> list[str]:
        email, first, last, phone = match
        return [email, first, last, (phone or self.phone()).strip(), f"MRN{i + 1:08d}", self.dob()]

    def defective(self, i: int) -> tuple[str, list[str]]:
        kind = DEFECT_KINDS[self.defects % len(DEFECT_KINDS)]
        self.defects += 1
        row = self.fresh(i)
        if kind == "bad_email":
            row[0] = self._pick(_BAD_EMAILS)
        elif kind == "bad_dob":
            row[5] = self._pick(_BAD_DOBS)
        elif kind == "missing_first_name":
            row[1] = ""
        else:
            row[3] = self._pick(_BAD_PHONES)
        return kind, row


def write_clinic_csv(path: str | Path, rows: int, seed: int = 42, match_uri: str | None = None, *,
                     match_invites: int | None = None, match_account_id: str | None = None,
                     match_missing_names: int = 0) -> ClinicCsvSummary:
    """Write ``rows`` data rows (plus the header) to ``path``; returns the counts of each kind of row.

    ``match_invites``/``match_missing_names``: the size flags the database was seeded with (used
    only without ``match_uri``); ``match_account_id`` restricts matches to one account."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    want = int(rows * MATCH_SHARE) + 1
    summary = ClinicCsvSummary()
    if match_uri:
        matches = matches_from_database(match_uri, want, seed, match_account_id)
        summary.match_source = "database"
    elif match_invites:
        matches = matches_from_generator(match_invites, want, seed, match_account_id, match_missing_names)
        summary.match_source = f"generator(invites={match_invites}, seed={seed})"
    else:
        matches = []
    gen = _Rows(seed)
    rng = gen.rng
    recent: deque[list[str]] = deque(maxlen=512)
    next_match = 0
    batch: list[list[str]] = []
    with private_files.open_private(path, "w", newline="", encoding="utf-8") as fh:  # synthetic PHI: 0600
        out = csv.writer(fh)
        out.writerow(CLINIC_HEADER)
        for i in range(rows):
            r = rng.random()
            if r < DEFECT_SHARE:
                kind, row = gen.defective(i)
                summary.defective[kind] += 1
            elif r < DEFECT_SHARE + DUPLICATE_SHARE and recent:
                row = recent[int(rng.random() * len(recent))]
                summary.duplicates += 1
            elif r < DEFECT_SHARE + DUPLICATE_SHARE + MATCH_SHARE and next_match < len(matches):
                row = gen.matching(i, matches[next_match])
                next_match += 1
                summary.matching += 1
                recent.append(row)
            else:
                row = gen.fresh(i)
                summary.new_people += 1
                recent.append(row)
            batch.append(row)
            if len(batch) >= _WRITE_BATCH:
                out.writerows(batch)
                batch.clear()
        out.writerows(batch)
    summary.rows = rows
    return summary
