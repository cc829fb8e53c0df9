"""The pure, seeded generator of legacy (invite-first) rows: no database, no clock, no files.

Same ``seed`` and same ``invites`` give the same rows, ids included. Rows come out in chunks of
self-contained *stories* (one person, a household, a re-invite chain, ...), so every chunk is
FK-complete on its own (staff first, then patient users, profiles, invites, chats) and memory stays
bounded whatever the size.

Time is anchored, never read from the clock:

* ``REFERENCE_TIME`` (2025-05-01 00:00, naive UTC): every ``created_at`` lies in the
  ``HISTORY_DAYS`` (730) days before it.
* ``OPEN_EXPIRY_REFERENCE`` (2099-12-31 00:00): a pending invite that is still open expires within
  the year before this date, so it stays in the future for real ``now()`` for decades, while the
  other pending invites expired 14 days after they were sent (both kinds always exist).

The first occurrence of every variant (story kind, status spelling, role case, title, phone
format, ...) is taken in a fixed order before random draws start, so every messy case of
docs/contracts/data-model.md appears at any size from ~200 invites and then scales with the size.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from include.core.errors import GenascopeError
from include.normalize.keys import NOISE
from include.seed import vocab

REFERENCE_TIME = datetime(2025, 5, 1)
HISTORY_DAYS = 730
OPEN_EXPIRY_REFERENCE = datetime(2099, 12, 31)
INVITE_TTL = timedelta(days=14)
SESSIONS_PER_INVITE = 0.5
DEFAULT_CHUNK_INVITES = 20_000

#: Column order of each legacy table (docs/contracts/data-model.md §1), the order of every generated row tuple.
COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "name", "domain", "status", "created_at", "updated_at"),
    "users": ("id", "name", "email", "role", "hashed_password", "account_id", "clinician_id", "is_active",
              "created_at", "updated_at"),
    "patient_profiles": ("id", "user_id", "date_of_birth", "gender", "phone_number", "address", "created_at",
                         "updated_at"),
    "invites": ("id", "email", "first_name", "last_name", "phone", "invite_token", "clinician_id", "user_id",
                "status", "custom_message", "session_metadata", "created_at", "updated_at", "expires_at",
                "accepted_at"),
    "chat_sessions": ("id", "user_id", "clinician_id", "session_type", "status", "session_metadata", "created_at",
                      "updated_at", "completed_at"),
    "chat_messages": ("id", "session_id", "role", "content", "created_at"),
}
#: FK-safe load order.
TABLES = tuple(COLUMNS)

#: Story kinds and their weights (one story = one person, a household or a chain of invites). With
#: these weights ≈15% of invites repeat an earlier person.
STORY_KINDS = (
    ("single", 800), ("reinvite_chain", 48), ("email_variant_repeat", 36), ("multi_clinician", 22),
    ("cross_account", 16), ("relatives", 15), ("nameless_with_user", 10), ("nameless_with_named", 10),
    ("unresolvable", 20), ("user_without_invite", 30),
)

Row = tuple[object, ...]

#: Web-form and copy-paste noise of real rows (docs/contracts/data-model.md §4 rule 3: the key form must see through it),
#: as (name, wrap) pairs: an e-mail or first name is rewritten with one of them. Identity is unchanged in
#: the key form; lower(btrim()) would split the person.
NOISE_EMAIL = (
    ("nbsp_trailing", lambda s: s + "\u00a0"), ("zwsp_leading", lambda s: "\u200b" + s),
    ("tab_trailing", lambda s: s + "\t"), ("crlf_trailing", lambda s: s + "\r\n"),
    ("bom_leading", lambda s: "\ufeff" + s), ("narrow_nbsp_both", lambda s: "\u202f" + s + "\u202f"),
    ("ideographic_space_trailing", lambda s: s + "\u3000"), ("thin_space_leading", lambda s: "\u2009" + s),
    ("zwsp_inside", lambda s: s.replace("@", "\u200b@", 1)), ("word_joiner_trailing", lambda s: s + "\u2060"),
)
NOISE_FIRST = (
    ("nbsp_trailing", lambda s: s + "\u00a0"), ("zwsp_leading", lambda s: "\u200b" + s),
    ("tab_trailing", lambda s: s + "\t"), ("bom_leading", lambda s: "\ufeff" + s),
    ("soft_hyphen_inside", lambda s: s[:2] + "\u00ad" + s[2:]), ("zwj_inside", lambda s: s[:1] + "\u200d" + s[1:]),
    ("en_space_both", lambda s: "\u2002" + s + "\u2002"),
    # shape-specific: a precomposed accent typed as a combining character, hyphen or inner spaces
    ("combining_accent", lambda s: unicodedata.normalize("NFD", s)),
    ("hyphen_spaced", lambda s: s.replace("-", " - ")),
    ("inner_space_run", lambda s: s.replace(" ", "\u00a0 ")),
)


class SeedParameterError(GenascopeError, ValueError):
    """The requested size or flags cannot produce a valid data set."""


@dataclass
class Chunk:
    """Rows of one FK-complete slice of the data set, per table, in column order."""

    accounts: list[Row] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    patient_profiles: list[Row] = field(default_factory=list)
    invites: list[Row] = field(default_factory=list)
    chat_sessions: list[Row] = field(default_factory=list)
    chat_messages: list[Row] = field(default_factory=list)

    def rows(self, table: str) -> list[Row]:
        return getattr(self, table)


@dataclass
class SeedSummary:
    """What was generated: counts only (PHI-free), per table and per messy case."""

    seed: int
    invites_requested: int
    missing_names_requested: int = 0
    accounts: int = 0
    users: int = 0
    patient_profiles: int = 0
    invites: int = 0
    chat_sessions: int = 0
    chat_messages: int = 0
    cases: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = field(default=0.0, compare=False)
    reference_checks: str = field(default="", compare=False)

    def table_counts(self) -> dict[str, int]:
        return {t: getattr(self, t) for t in TABLES}

    def render(self) -> str:
        lines = [f"seed={self.seed} invites_requested={self.invites_requested} "
                 f"missing_names={self.missing_names_requested}"]
        lines += [f"  table {t:<18} {n:>10}" for t, n in self.table_counts().items()]
        lines += [f"  case  {c:<40} {n:>10}" for c, n in sorted(self.cases.items())]
        if self.elapsed_s:
            lines.append(f"  loaded in {self.elapsed_s:.1f} s (references: {self.reference_checks})")
        return "\n".join(lines)


def _weighted(*pairs: tuple[object, float]) -> Callable[[random.Random], Any]:
    """A weighted choice whose first draws walk every option once (deterministic coverage).

    A closure rather than a class: it is called about ten times per invite."""
    values = tuple(v for v, _ in pairs)
    cum = list(accumulate(w for _, w in pairs))
    total, k = cum[-1], len(values)
    drawn = [0]

    def draw(rng: random.Random) -> Any:
        n = drawn[0]
        if n < k:
            drawn[0] = n + 1
            return values[n]
        return values[bisect(cum, rng.random() * total)]

    return draw


@dataclass
class _Person:
    first: str
    last: str
    gender: str
    email: str  # canonical: lower case, no spaces
    phone_digits: str


@dataclass
class _Clinician:
    id: str
    account: int | None  # index into the accounts list; None: the clinician has no account


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def _format_uuid(bits: int) -> str:
    """A version-4 UUID string from 128 random bits (the seeded stream, not os.urandom)."""
    h = f"{(bits & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _slug(name: str) -> str:
    """ASCII e-mail local part of a name: accents dropped, spaces removed ("Zoë Anne-Marie" -> "zoeanne-marie")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return ascii_name.lower().replace(" ", "")


class LegacyGenerator:
    """Iterate :meth:`chunks` once; :attr:`summary` is complete afterwards."""

    def __init__(self, invites: int, seed: int = 42, *, missing_names: int = 0,
                 chunk_invites: int = DEFAULT_CHUNK_INVITES) -> None:
        if invites < 1:
            raise SeedParameterError("--invites must be at least 1")
        if missing_names < 0 or missing_names > max(1, invites // 10):
            raise SeedParameterError(
                f"--missing-names must be between 0 and {max(1, invites // 10)} (a tenth of --invites)")
        self.n_invites = invites
        self.seed = seed
        self.missing_names = missing_names
        self.chunk_invites = max(1, chunk_invites)
        self.rng = random.Random(seed)
        self.cases: Counter[str] = Counter()
        self.summary = SeedSummary(seed=seed, invites_requested=invites, missing_names_requested=missing_names)
        self._emitted = 0
        self._story_no = 0
        self._user_no = 0
        self._session_debt = 0.0
        self._chunk = Chunk()
        self._accounts: list[str] = []
        self._account_clinicians: list[list[_Clinician]] = []
        self._orphan_clinicians: list[_Clinician] = []
        self._multi_accounts: list[int] = []
        self._users_in_story: list[tuple[str, str | None, datetime]] = []
        self._init_picks()

    # ------------------------------------------------------------------ choices
    def _init_picks(self) -> None:
        P = _weighted
        self.p_story = P(*STORY_KINDS)
        self.p_outcome = P(("accepted", 42), ("pending_open", 12), ("pending_expired", 8),
                           ("pending_no_expiry", 3), ("expired", 21), ("revoked", 6), ("null", 4))
        self.p_nonaccepted = P(("pending_open", 30), ("pending_expired", 25), ("expired", 35), ("revoked", 10))
        self.p_chain_end = P(("accepted", 55), ("pending_open", 20), ("expired", 15), ("pending_expired", 10))
        self.p_chain_early = P(("revoked", 50), ("expired", 50))
        self.p_accepted_word = P(("accepted", 62), ("Accepted", 10), ("ACCEPTED", 6), ("completed", 17),
                                 ("Completed", 5))
        self.p_pending_word = P(("pending", 92), ("Pending", 6), ("PENDING", 2))
        self.p_expired_word = P(("expired", 94), ("EXPIRED", 6))
        self.p_email_shape = P(("as_is", 90), ("case", 4), ("space", 3), ("noise", 3))
        self.p_first_shape = P((False, 96), (True, 4))
        self.p_email_noise = P(*((name, 1) for name, _ in NOISE_EMAIL))
        self.p_first_noise = P(*((name, 1) for name, _ in NOISE_FIRST))
        self.p_case_shape = P(("upper", 30), ("capitalized", 50), ("domain", 20))
        self.p_space_shape = P(("trailing", 50), ("leading", 30), ("both", 20))
        self.p_user_email = P(("same", 88), ("case", 12))
        self.p_link_user = P((False, 78), (True, 22))
        self.p_role = P(("patient", 85), ("PATIENT", 10), ("Patient", 5))
        self.p_staff_role = P(("clinician", 90), ("CLINICIAN", 6), ("Clinician", 4))
        self.p_title = P(("", 80), ("Dr. ", 4), ("Mrs. ", 6), ("Mr. ", 4), ("Ms. ", 4), ("Miss ", 1), ("Prof. ", 1))
        self.p_user_account = P((True, 90), (False, 10))
        self.p_profile = P((True, 86), (False, 14))
        self.p_dob = P(("midnight", 88), ("with_time", 10), ("null", 2))
        self.p_phone = P(("paren", 22), ("dashes", 18), ("dots", 8), ("digits", 14), ("e164", 14),
                         ("spaced_intl", 8), ("one_dash", 6), ("extension", 3), ("uk", 3), ("null", 4))
        self.p_invite_phone = P((None, 60), ("set", 40))
        self.p_unresolvable = P(("clinician_null", 60), ("clinician_without_account", 40))
        self.p_user_only_account = P((True, 70), (False, 30))
        self.p_non_uuid = P((False, 99), (True, 1))
        self.p_session_status = P(("completed", 55), ("active", 20), ("abandoned", 15), ("COMPLETED", 10))
        self.p_messages = P((0, 8), (1, 6), (2, 20), (3, 26), (4, 20), (5, 12), (6, 8))

    def _choice(self, seq):
        return seq[int(self.rng.random() * len(seq))]

    def _uuid(self) -> str:
        return _format_uuid(self.rng.getrandbits(128))

    def _token(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _ts(self, start: datetime, max_days: float) -> datetime:
        return start + timedelta(seconds=int(self.rng.random() * max_days * 86400))

    def _story_start(self) -> datetime:
        # Stories span up to ~100 days, so they start early enough to end before REFERENCE_TIME.
        return self._ts(REFERENCE_TIME - timedelta(days=HISTORY_DAYS), HISTORY_DAYS - 110)

    # ------------------------------------------------------------------ staff
    def _staff(self) -> None:
        rng, ch = self.rng, self._chunk
        n_accounts = max(4, min(400, self.n_invites // 5000 + 3))
        start = REFERENCE_TIME - timedelta(days=HISTORY_DAYS + 180)
        clinician_no = 0
        prev_domain = None
        for i in range(n_accounts):
            acc_id = f"acct-{i + 1:04d}" if i == 0 or i % 40 == 7 else self._uuid()
            if acc_id.startswith("acct-"):
                self.cases["non_uuid_ids"] += 1
            word = self._choice(vocab.CLINIC_WORDS)
            domain = f"{word.lower()}-{i}.example.org"
            if i % 9 == 4:
                domain = None
            elif i % 7 == 3 and prev_domain:
                domain = prev_domain  # the same clinic group: domains repeat
                self.cases["accounts_shared_domain"] += 1
            prev_domain = domain or prev_domain
            created = self._ts(start, 150)
            status = ("active", "active", "active", "inactive", "ACTIVE", None)[i % 6]
            ch.accounts.append((acc_id, f"{word} {self._choice(vocab.CLINIC_KINDS)}", domain, status,
                                created, created))
            self._accounts.append(acc_id)
            clinicians = []
            for _ in range(2 + int(rng.random() * 4)):
                clinician_no += 1
                clinicians.append(_Clinician(self._staff_user(clinician_no, i, domain, created), i))
            self._account_clinicians.append(clinicians)
            self._multi_accounts.append(i)
            # one admin per account, in varying case
            self._add_staff_row(f"admin.{i}@{domain or 'clinic.example.org'}", "Admin " + word,
                                ("admin", "ADMIN", "Admin")[i % 3], acc_id, created)
        for _ in range(2 + self.n_invites // 200_000):
            clinician_no += 1
            self._orphan_clinicians.append(_Clinician(self._staff_user(clinician_no, None, None, start), None))
        self._add_staff_row("root@genascope.example.org", "Platform Admin", "super_admin", None, start)
        self._add_staff_row("lab.1@lab.example.org", "Lab Tech One", "lab_tech", None, start)
        self._add_staff_row("lab.2@lab.example.org", "Lab Tech Two", "LAB_TECH", None, start)

    def _staff_user(self, no: int, account: int | None, domain: str | None, created: datetime) -> str:
        uid = f"clinician-{no:03d}" if no <= 3 or no % 50 == 0 else self._uuid()
        if uid.startswith("clinician-"):
            self.cases["non_uuid_ids"] += 1
        first = self._choice(vocab.FIRST_NAMES_FEMALE + vocab.FIRST_NAMES_MALE)
        last = self._choice(vocab.LAST_NAMES)
        role = self.p_staff_role(self.rng)
        if role != "clinician":
            self.cases["users_role_case_variant"] += 1
        email = f"{_slug(first)}.{_slug(last)}.c{no}@{domain or 'staff.example.net'}"
        acc = self._accounts[account] if account is not None else None
        self._chunk.users.append((uid, f"Dr. {first} {last}", email, role, "$2b$12$" + self._token(), acc, None,
                                  True, created, created))
        return uid

    def _add_staff_row(self, email: str, name: str, role: str, account_id: str | None, created: datetime) -> None:
        if role != role.lower():
            self.cases["users_role_case_variant"] += 1
        self._chunk.users.append((self._uuid(), name, email, role, "$2b$12$" + self._token(), account_id, None,
                                  True, created, created))

    def _clinician(self, account: int | None = None) -> _Clinician:
        if account is None:
            # larger clinics send more invites: skew toward the first accounts
            account = int(len(self._accounts) * self.rng.random() ** 1.6)
        return self._choice(self._account_clinicians[account])

    # ------------------------------------------------------------------ people
    def _person(self, last: str | None = None, avoid_first: set[str] | None = None) -> _Person:
        rng = self.rng
        female = rng.random() < 0.55
        names = vocab.FIRST_NAMES_FEMALE if female else vocab.FIRST_NAMES_MALE
        first = self._choice(names)
        while avoid_first and first.lower() in avoid_first:
            first = self._choice(names)
        last = last or self._choice(vocab.LAST_NAMES)
        email = f"{_slug(first)}.{_slug(last)}.{self._story_no:x}@{self._choice(vocab.PATIENT_DOMAINS)}"
        phone = f"{self._choice(vocab.AREA_CODES)}5550{100 + int(rng.random() * 100)}"
        return _Person(first, last, "female" if female else "male", email, phone)

    def _case_variant(self, email: str) -> str:
        shape = self.p_case_shape(self.rng)
        local, _, domain = email.partition("@")
        if shape == "upper":
            out = email.upper()
        elif shape == "capitalized":
            out = ".".join(p[:1].upper() + p[1:] for p in local.split(".")) + "@" + domain
        else:
            out = local + "@" + domain.upper()
        return out if out != email else email.upper()

    def _space_variant(self, email: str) -> str:
        shape = self.p_space_shape(self.rng)
        return {"trailing": email + " ", "leading": " " + email, "both": "  " + email + " "}[shape]

    def _noise_variant(self, email: str) -> str:
        wrap = dict(NOISE_EMAIL)[self.p_email_noise(self.rng)]
        return wrap(email)

    def _first_variant(self, first: str) -> str:
        """``first`` as typed into a web form: usually as is, sometimes with noise (NOISE_FIRST)."""
        if not self.p_first_shape(self.rng):
            return first
        name = self.p_first_noise(self.rng)
        if ((name == "combining_accent" and first.isascii()) or (name == "hyphen_spaced" and "-" not in first)
                or (name == "inner_space_run" and " " not in first)):
            name = "zwsp_leading"  # the shape-specific noise needs a name of that shape
        self.cases[f"first_name_noise.{name}"] += 1
        return dict(NOISE_FIRST)[name](first)

    def _invite_email(self, canonical: str) -> str:
        shape = self.p_email_shape(self.rng)
        if shape == "case":
            return self._case_variant(canonical)
        if shape == "space":
            return self._space_variant(canonical)
        if shape == "noise":
            return self._noise_variant(canonical)
        return canonical

    def _phone(self, digits: str, kind: str) -> str | None:
        a, b, c = digits[:3], digits[3:6], digits[6:]
        if kind == "paren":
            return f"({a}) {b}-{c}"
        if kind == "dashes":
            return f"{a}-{b}-{c}"
        if kind == "dots":
            return f"{a}.{b}.{c}"
        if kind == "digits":
            return digits
        if kind == "e164":
            return f"+1{digits}"
        if kind == "spaced_intl":
            return f"+1 {a} {b} {c}"
        if kind == "one_dash":
            return f"1-{a}-{b}-{c}"
        if kind == "extension":
            return f"{a}-{b}-{c} x{digits[-2:]}"
        if kind == "uk":
            return f"+44 20 7946 0{c[-3:]}"
        return None

    # ------------------------------------------------------------------ rows
    def _invite(self, person: _Person | None, email: str, clinician: _Clinician | None, created: datetime,
                outcome: str, *, named: bool = True) -> tuple[Row, datetime | None]:
        """Append one invite; returns (row, accepted_at). ``user_id`` is filled later by :meth:`_accept`."""
        rng = self.rng
        self._emitted += 1
        status: str | None
        expires: datetime | None = created + INVITE_TTL
        accepted = None
        updated = created
        if outcome == "accepted":
            status = self.p_accepted_word(rng)
            accepted = self._ts(created, 13)
            updated = accepted
        elif outcome == "pending_open":
            status = self.p_pending_word(rng)
            expires = OPEN_EXPIRY_REFERENCE - timedelta(seconds=int(rng.random() * 365 * 86400))
            self.cases["pending_open"] += 1
        elif outcome == "pending_expired":
            status = self.p_pending_word(rng)
            self.cases["pending_expired"] += 1
        elif outcome == "pending_no_expiry":
            status = self.p_pending_word(rng)
            expires = None
            self.cases["pending_no_expiry"] += 1
        elif outcome == "expired":
            status = self.p_expired_word(rng)
            updated = expires
        elif outcome == "revoked":
            status = "revoked"
            updated = self._ts(created, 13)
        else:
            status = None
        self.cases[f"invite_status.{status if status is not None else 'NULL'}"] += 1
        if email != email.strip(" "):
            self.cases["email_space_variant"] += 1
        elif email.isascii() is False or "\t" in email or "\r" in email:
            self.cases["email_noise_variant"] += 1
        elif email != email.lower():
            self.cases["email_case_variant"] += 1
        if clinician is None:
            self.cases["invites_clinician_null"] += 1
        elif clinician.account is None:
            self.cases["invites_clinician_without_account"] += 1
        phone = None
        if person is not None and self.p_invite_phone(rng):
            phone = self._phone(person.phone_digits, self.p_phone(rng))
        if self.p_non_uuid(rng):
            inv_id = f"legacy-inv-{self._emitted:08d}"
            self.cases["non_uuid_ids"] += 1
        else:
            inv_id = self._uuid()
        message = self._choice(vocab.CUSTOM_MESSAGES) if rng.random() < 0.3 else None
        metadata = self._choice(vocab.INVITE_METADATA) if rng.random() < 0.5 else None
        first = self._first_variant(person.first) if (named and person) else None
        last = person.last if (named and person) else None
        row = (inv_id, email, first, last, phone, self._token(), clinician.id if clinician else None, None,
               status, message, metadata, created, updated, expires, accepted)
        self._chunk.invites.append(row)
        return row, accepted

    def _link(self, row: Row, user_id: str) -> None:
        """Legacy acceptance sometimes stored invites.user_id: replace the invite just appended."""
        invites = self._chunk.invites
        assert invites[-1] is row
        invites[-1] = row[:7] + (user_id,) + row[8:]

    def _patient_user(self, person: _Person, email: str, clinician: _Clinician | None, created: datetime,
                      *, own_account: bool | None = None) -> str:
        rng = self.rng
        self._user_no += 1
        if self.p_non_uuid(rng):
            uid = f"legacy-usr-{self._user_no:08d}"
            self.cases["non_uuid_ids"] += 1
        else:
            uid = self._uuid()
        title = self.p_title(rng)
        if title:
            self.cases["users_name_with_title"] += 1
        if " " in person.first:
            self.cases["users_name_multi_token"] += 1
        role = self.p_role(rng)
        if role != "patient":
            self.cases["users_role_case_variant"] += 1
        if own_account is None:
            own_account = self.p_user_account(rng)
        account_id = None
        if clinician is not None and clinician.account is not None and own_account:
            account_id = self._accounts[clinician.account]
        if account_id is None:
            self.cases["patient_users_account_null"] += 1
        self._chunk.users.append((uid, f"{title}{person.first} {person.last}", email, role,
                                  "$2b$12$" + self._token(), account_id, clinician.id if clinician else None,
                                  rng.random() > 0.03, created, created))
        if self.p_profile(rng):
            self._profile(uid, person, created)
        self._users_in_story.append((uid, clinician.id if clinician else None, created))
        return uid

    def _profile(self, user_id: str, person: _Person, created: datetime) -> None:
        rng = self.rng
        dob_kind = self.p_dob(rng)
        dob = None
        if dob_kind != "null":
            dob = datetime(1935, 1, 1) + timedelta(days=int(rng.random() * 25500))
            if dob_kind == "with_time":
                dob += timedelta(hours=(4, 5, 7, 23)[int(rng.random() * 4)])  # timezone-shift artefacts
                self.cases["profiles_dob_with_time"] += 1
        else:
            self.cases["profiles_dob_null"] += 1
        kind = self.p_phone(rng)
        self.cases[f"profile_phone_format.{kind}"] += 1
        address = None
        if rng.random() < 0.6:
            address = (f"{1 + int(rng.random() * 998)} {self._choice(vocab.STREETS)}, "
                       f"{self._choice(vocab.CITIES)}")
        gender = self._choice(vocab.GENDERS) if rng.random() < 0.85 else None
        self._chunk.patient_profiles.append((self._uuid(), user_id, dob, gender, self._phone(person.phone_digits, kind),
                                             address, created, created))

    def _accept(self, row: Row, accepted_at: datetime, person: _Person, clinician: _Clinician | None) -> str:
        """The legacy acceptance: a patient user with the invite's e-mail (maybe in another case)."""
        invite_email = row[1].strip(NOISE)  # the sign-up form trimmed what the invite form kept
        email = invite_email
        if self.p_user_email(self.rng) == "case":
            email = person.email if invite_email != person.email else self._case_variant(person.email)
        uid = self._patient_user(person, email, clinician, accepted_at)
        if email != invite_email:
            self.cases["accepted_user_email_case_differs"] += 1
            self.cases["accepted_invites_user_id_null"] += 1
        elif self.p_link_user(self.rng):
            self._link(row, uid)
            self.cases["accepted_invites_user_id_set"] += 1
        else:
            self.cases["accepted_invites_user_id_null"] += 1
        return uid

    def _single(self, person: _Person, clinician: _Clinician | None, created: datetime, outcome: str,
                email: str | None = None, named: bool = True) -> str | None:
        row, accepted_at = self._invite(person, email or self._invite_email(person.email), clinician, created,
                                        outcome, named=named)
        if accepted_at is not None:
            return self._accept(row, accepted_at, person, clinician)
        return None

    # ------------------------------------------------------------------ stories
    def _story(self, kind: str) -> None:
        """One story of the given kind (its invites, users and chats), starting at a drawn time."""
        t0 = self._story_start()
        story = getattr(self, f"_story_{kind}", None)
        if story is None:  # pragma: no cover - the story table and these methods are edited together
            raise AssertionError(kind)
        story(t0)

    def _story_single(self, t0: datetime) -> None:
        rng = self.rng
        self._single(self._person(), self._clinician(), t0, self.p_outcome(rng))

    def _story_reinvite_chain(self, t0: datetime) -> None:
        rng = self.rng
        person, clin = self._person(), self._clinician()
        n = 2 + int(rng.random() * 3)
        t = t0
        self.cases["reinvite_chains"] += 1
        self.cases["invites_repeating_earlier_person"] += n - 1
        for k in range(n):
            if k == n - 1:
                self._single(person, clin, t, self.p_chain_end(rng))
            else:
                outcome = self.p_chain_early(rng)
                self.cases[f"chain_{outcome}_invites"] += 1
                self._single(person, clin, t, outcome)
                t = t + INVITE_TTL + timedelta(days=int(rng.random() * 10))

    def _story_email_variant_repeat(self, t0: datetime) -> None:
        rng = self.rng
        person, clin = self._person(), self._clinician()
        self._single(person, clin, t0, self.p_nonaccepted(rng), email=person.email)
        shape = rng.random()
        variant = (self._case_variant(person.email) if shape < 0.5 else
                   self._space_variant(person.email) if shape < 0.8 else self._noise_variant(person.email))
        self.cases["invites_repeating_earlier_person"] += 1
        self._single(person, clin, t0 + timedelta(days=20 + int(rng.random() * 30)), self.p_outcome(rng),
                     email=variant)

    def _story_multi_clinician(self, t0: datetime) -> None:
        rng = self.rng
        account = self._choice(self._multi_accounts)
        first_clin = self._clinician(account)
        others = [c for c in self._account_clinicians[account] if c.id != first_clin.id]
        person = self._person()
        self.cases["same_person_multiple_clinicians"] += 1
        self.cases["invites_repeating_earlier_person"] += 1
        self._single(person, first_clin, t0, self.p_nonaccepted(rng))
        self._single(person, self._choice(others), t0 + timedelta(days=15 + int(rng.random() * 40)),
                     self.p_outcome(rng))

    def _story_cross_account(self, t0: datetime) -> None:
        rng = self.rng
        a = int(rng.random() * len(self._accounts))
        b = (a + 1 + int(rng.random() * (len(self._accounts) - 1))) % len(self._accounts)
        person = self._person()
        self.cases["same_email_multiple_accounts"] += 1
        self.cases["invites_repeating_earlier_person"] += 1
        self._single(person, self._clinician(a), t0, self.p_outcome(rng))
        # only one users row can carry the e-mail: the second account's invite is never accepted here
        self._single(person, self._clinician(b), t0 + timedelta(days=10 + int(rng.random() * 60)),
                     self.p_nonaccepted(rng) if self._users_in_story else self.p_outcome(rng))

    def _story_relatives(self, t0: datetime) -> None:
        rng = self.rng
        clin = self._clinician()
        head = self._person()
        household = [head]
        taken = {head.first.lower()}
        for _ in range(1 + (rng.random() < 0.3)):
            rel = self._person(last=head.last, avoid_first=taken)
            taken.add(rel.first.lower())
            rel.email = head.email
            household.append(rel)
        self.cases["relatives_sharing_email"] += 1
        self.cases["relatives_invites"] += len(household)
        accepted_one = rng.random() < 0.7
        for k, member in enumerate(household):
            outcome = "accepted" if (accepted_one and k == 0) else self.p_nonaccepted(rng)
            self._single(member, clin, t0 + timedelta(days=k * 3), outcome, email=self._invite_email(head.email))

    def _story_nameless_with_user(self, t0: datetime) -> None:
        person, clin = self._person(), self._clinician()
        self.cases["nameless_invites_with_user"] += 1
        self._single(person, clin, t0, "accepted", named=False)

    def _story_nameless_with_named(self, t0: datetime) -> None:
        rng = self.rng
        person, clin = self._person(), self._clinician()
        self.cases["nameless_invites_without_user"] += 1
        self.cases["invites_repeating_earlier_person"] += 1
        self._single(person, clin, t0, self.p_nonaccepted(rng))
        self._single(person, self._clinician(self._account_of(clin)), t0 + timedelta(days=30),
                     self.p_nonaccepted(rng), named=False)

    def _story_missing_name(self, t0: datetime) -> None:
        rng = self.rng
        person, clin = self._person(), self._clinician()
        self.cases["missing_name_invites"] += 1
        self._single(person, clin, t0, self.p_nonaccepted(rng), named=False)

    def _story_unresolvable(self, t0: datetime) -> None:
        rng = self.rng
        person = self._person()
        shape = self.p_unresolvable(rng)
        clin = None if shape == "clinician_null" else self._choice(self._orphan_clinicians)
        self._single(person, clin, t0, self.p_nonaccepted(rng))
        if (shape == "clinician_null" and not self.cases["invites_clinician_without_account"]
                and self._emitted < self.n_invites):
            # the first such person is re-invited by a clinician without an account, so both
            # unresolvable shapes exist at any size (not only when a second such story is drawn)
            self.cases["invites_repeating_earlier_person"] += 1
            self._single(person, self._choice(self._orphan_clinicians), t0 + timedelta(days=20),
                         self.p_nonaccepted(rng))

    def _story_user_without_invite(self, t0: datetime) -> None:
        rng = self.rng
        person = self._person()
        clin = self._clinician()
        self.cases["patient_users_without_invite"] += 1
        self._patient_user(person, person.email, clin, t0, own_account=self.p_user_only_account(rng))

    def _account_of(self, clin: _Clinician) -> int:
        assert clin.account is not None
        return clin.account

    # ------------------------------------------------------------------ chats
    def _chats(self, story_invites: int) -> None:
        self._session_debt += SESSIONS_PER_INVITE * story_invites
        users = self._users_in_story
        if not users or self._session_debt < 1:
            return
        n = min(int(self._session_debt), 4 * len(users))
        self._session_debt -= n
        rng, ch = self.rng, self._chunk
        for _ in range(n):
            uid, clin_id, since = users[int(rng.random() * len(users))]
            created = min(self._ts(since, 60), REFERENCE_TIME - timedelta(hours=1))
            status = self.p_session_status(rng)
            completed = created + timedelta(minutes=5 + int(rng.random() * 50)) if status.lower() == "completed" \
                else None
            sid = self._uuid()
            ch.chat_sessions.append((sid, uid, clin_id, self._choice(vocab.SESSION_TYPES) if rng.random() < 0.95
                                     else None, status, self._choice(vocab.SESSION_METADATA)
                                     if rng.random() < 0.4 else None, created, completed or created, completed))
            n_msg = self.p_messages(rng)
            self.cases["chat_sessions_with_messages" if n_msg else "chat_sessions_without_messages"] += 1
            # hot loop (~3 messages per session): locals only
            t, rnd, bits, add = created, rng.random, rng.getrandbits, ch.chat_messages.append
            roles, phrases, n_phrases = vocab.CHAT_ROLES, vocab.CHAT_PHRASES, len(vocab.CHAT_PHRASES)
            for _m in range(n_msg):
                t = t + timedelta(seconds=5 + int(rnd() * 120))
                add((_format_uuid(bits(128)), sid, roles[int(rnd() * 3)], phrases[int(rnd() * n_phrases)], t))

    # ------------------------------------------------------------------ driver
    def _flush(self) -> Chunk:
        chunk, self._chunk = self._chunk, Chunk()
        s = self.summary
        for table in TABLES:
            setattr(s, table, getattr(s, table) + len(chunk.rows(table)))
        return chunk

    def chunks(self) -> Iterator[Chunk]:
        """Yield FK-complete chunks of about ``chunk_invites`` invites until ``invites`` are generated."""
        self._staff()
        story_kinds = len(STORY_KINDS)
        missing_left = self.missing_names
        in_chunk = 0
        while self._emitted < self.n_invites:
            before = self._emitted
            self._users_in_story = []
            self._story_no += 1
            remaining = self.n_invites - self._emitted
            if missing_left and self._story_no > story_kinds:
                kind = "missing_name"
                missing_left -= 1
            else:
                kind = self.p_story(self.rng)
                if remaining < 4 and kind not in ("single", "nameless_with_user", "unresolvable",
                                                  "user_without_invite"):
                    kind = "single"
            self._story(kind)
            self._chats(self._emitted - before)
            in_chunk += self._emitted - before
            if in_chunk >= self.chunk_invites:
                yield self._flush()
                in_chunk = 0
        self.summary.cases = dict(sorted(self.cases.items()))
        yield self._flush()


def generate_rows(invites: int, seed: int = 42, *, missing_names: int = 0,
                  chunk_invites: int = DEFAULT_CHUNK_INVITES) -> tuple[LegacyGenerator, Iterator[Chunk]]:
    """The pure layer: a generator and its chunk iterator (no database needed)."""
    gen = LegacyGenerator(invites, seed, missing_names=missing_names, chunk_invites=chunk_invites)
    return gen, gen.chunks()
