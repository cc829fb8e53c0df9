"""Normalization of one raw clinic record into the values the merge uses (pure functions, no I/O).

``normalize_record(raw, source, today)`` is called once per record in the import's hot path. It never
raises for bad data: a record either comes back clean, or with ``reason``/``reason_field`` set (the row
is quarantined), and possibly with warning ``notes`` (the row is imported, the notes are recorded).

Required vs optional fields (docs/contracts/imports.md "Real-world feeds"): a row is quarantined only when what identifies
the person is missing or invalid -- first and last name, and at least one identity (the external id, or a
valid e-mail) -- or when a field the source declares in ``required_fields`` is missing or invalid. An
optional field that fails validation (phone, date of birth, e-mail when an external id is present) is
dropped and recorded as a **field issue** ``(field, reason)`` in ``field_issues``: the row is imported
without that value.

Quarantine reasons (``reason``; first problem in field order wins):

=============================  ====================================================================
reader problems                ``wrong_field_count``, ``field_too_long``, ``invalid_json``,
                               ``truncated_line``, ``invalid_fhir``, ``not_patient``, ``invalid_hl7``,
                               ``line_too_long``, ``message_too_long``, ``json_too_deep``,
                               ``nul_character``, ``nul_byte`` (see ``include.imports.records``)
``field_too_long``             over the ``patients`` column width: external_id 255, first/last name
                               100 (e-mail 255: see ``invalid_email``)
``missing_first_name``         empty or placeholder first name (``N/A``, ``UNKNOWN``, ``-``, ``?`` ...)
``missing_last_name``          same for the last name
``invalid_email``              (or ``field_too_long``) the e-mail is the row's only identity, or is
                               required, and is not a valid address
``missing_identifier``         neither an external id nor a valid e-mail: such a row could never be
                               matched again, so every re-delivery would create another patient
``missing_<field>``            a ``required_fields`` entry is absent (``missing_email``, ...)
phone / DOB reasons            only when the source requires that field (else a field issue)
=============================  ====================================================================

Field issue reasons (``field_issues``; the row is imported without the value): ``invalid_email``,
``field_too_long`` (e-mail), ``unparseable_phone``, ``phone_leading_zero_stripped``,
``excel_scientific_notation``, ``invalid_dob``, ``dob_in_future``, ``dob_before_1900``,
``invalid_date_of_death`` (the patient is still treated as deceased). Several candidates (FHIR telecoms,
HL7 repetitions: ``RawRecord.alternates``) are tried in the reader's order of preference; the first valid
one is used, and only when none is valid is the first one's reason recorded.

Deceased: a non-empty ``date_of_death`` (a date, or a flag such as ``true``/``Y``; not ``false``/``N``)
sets ``deceased``; the merge stores such a patient as ``inactive`` (change reason ``deceased``).

Warnings (``notes``; the row is imported):

- ``excel_serial_date``: DOB looked like an Excel serial number (``23456``); imported without a DOB.
- ``dob_partial``: FHIR/HL7 partial DOB (``1965``, ``1965-03``) kept in ``dob_partial``, ``date_of_birth``
  stays NULL (no invented day).
- ``hl7_explicit_null``: an HL7 field held ``""`` ("delete this value"). Updates never blank a stored
  value, so the DB side treats it exactly like an absent value; the note records that the sender asked.
- ``unrecognised_active``: an ``active`` value other than true/false/yes/no/1/0/y/n/active/inactive.

Keys for matching are the key form (docs/contracts/data-model.md §4 rule 3, ``include.normalize.keys``, the twin of the SQL
``patient_pipeline.email_key`` / ``key_form`` the backfill and the import decisions use): ``email_key``
(valid e-mails only) and ``first_name_key``. Stored values are trimmed of white space and invisible format
characters (``keys.trim_noise``) before they are checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from include.imports.records import RawRecord
from include.imports.sources import SourceConfig
from include.normalize.dates import _try_format as _try_date_format
from include.normalize.dates import parse_dob
from include.normalize.emails import is_valid_email
from include.normalize.keys import email_key, key_form, trim_noise
from include.normalize.names import normalize_name
from include.normalize.phones import to_e164

#: ``patients`` column widths (docs/contracts/data-model.md section 3).
MAX_NAME = 100
MAX_EMAIL = 255
MAX_PHONE = 20
MAX_EXTERNAL_ID = 255

HL7_EXPLICIT_NULL = '""'
#: FHIR and HL7 readers hand dates over as ISO (full or partial); ``date_formats`` applies to CSV only.
ISO_DATE_FORMATS = ("%Y-%m-%d",)

WARNING_CODES = frozenset({"excel_serial_date", "dob_partial", "hl7_explicit_null", "unrecognised_active"})

_ACTIVE = {"true": True, "t": True, "yes": True, "y": True, "1": True, "active": True,
           "false": False, "f": False, "no": False, "n": False, "0": False, "inactive": False}


_NOT_DECEASED = frozenset({"false", "f", "no", "n", "0", "", "\"\""})
_DECEASED_FLAGS = frozenset({"true", "t", "yes", "y", "1", "deceased"})
#: A FHIR/HL7 date or dateTime (the readers hand deaths over as ISO).
_ISO_DEATH = re.compile(r"(19|20)\d\d(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?(T[0-9:.+\-Z]*)?")

_DOB_CACHE_MAX = 200_000
_dob_caches: dict[tuple[tuple[str, ...], date, bool], dict[str, tuple[date | None, str | None, str | None]]] = {}


def _dob_cache(formats: tuple[str, ...], today: date, partial: bool) -> dict:
    """A plain dict per (formats, today) : faster than ``lru_cache`` on the 4-argument ``parse_dob``."""
    key = (formats, today, partial)
    cache = _dob_caches.get(key)
    if cache is None:
        if len(_dob_caches) > 16:
            _dob_caches.clear()
        cache = _dob_caches[key] = {}
    return cache


@dataclass(slots=True)
class NormalizedRecord:
    record_no: int
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    email_key: str | None = None
    first_name_key: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    dob_partial: str | None = None
    active: bool | None = None
    reason: str | None = None
    reason_field: str | None = None
    notes: list[str] = field(default_factory=list)
    event: str | None = None
    event_detail: str | None = None
    field_issues: list[tuple[str, str]] = field(default_factory=list)
    deceased: bool = False

    @property
    def quarantined(self) -> bool:
        return self.reason is not None


def normalize_record(raw: RawRecord, source: SourceConfig, today: date) -> NormalizedRecord:
    """Normalize one record; see the module docstring for reasons and notes.

    Long because: it is the per-record hot path of every import (one call per row, millions per night);
    each field's step is inlined rather than a function call per field, and the order of the checks is
    the order of the quarantine reasons (the first failing field wins). The field-level rules themselves
    live in include/normalize/."""
    values = raw.values
    notes: list[str] = []
    reason: str | None = raw.problem
    reason_field: str | None = raw.problem_field

    get = values.get
    ext = get("external_id")
    first = get("first_name")
    last = get("last_name")
    email = get("email")
    phone = get("phone")
    dob = get("date_of_birth")
    active_raw = get("active")

    if source.format == "hl7v2" and HL7_EXPLICIT_NULL in (ext, first, last, email, phone, dob):
        notes.append("hl7_explicit_null")
        ext, first, last, email, phone, dob = (
            None if v == HL7_EXPLICIT_NULL else v for v in (ext, first, last, email, phone, dob)
        )

    if ext is not None:
        ext = trim_noise(ext) or None
        if ext is not None and len(ext) > MAX_EXTERNAL_ID and reason is None:
            reason, reason_field = "field_too_long", "external_id"

    first = normalize_name(first)
    if reason is None:
        if first is None:
            reason, reason_field = "missing_first_name", "first_name"
        elif len(first) > MAX_NAME:
            reason, reason_field = "field_too_long", "first_name"
    last = normalize_name(last)
    if reason is None:
        if last is None:
            reason, reason_field = "missing_last_name", "last_name"
        elif len(last) > MAX_NAME:
            reason, reason_field = "field_too_long", "last_name"

    alternates = raw.alternates or {}
    issues: list[tuple[str, str]] = []
    required = source.required_fields

    key = None
    email_reason = None
    if email is not None or alternates:
        for candidate in (email, *alternates.get("email", ())) if alternates else (email,):
            if candidate is None:
                continue
            candidate = trim_noise(candidate)
            if not candidate:
                continue
            if len(candidate) > MAX_EMAIL:
                email_reason = email_reason or "field_too_long"
            elif is_valid_email(candidate):
                email, key = candidate, email_key(candidate)
                break
            else:
                email_reason = email_reason or "invalid_email"
        if key is None:
            email = None
            if email_reason is not None:
                if ext is None or "email" in required:
                    if reason is None:
                        reason, reason_field = email_reason, "email"
                else:
                    issues.append(("email", email_reason))

    if phone is not None or alternates:
        phone_reason = None
        for candidate in (phone, *alternates.get("phone", ())) if alternates else (phone,):
            value, why = to_e164(candidate, source.default_phone_region)
            if value is not None:
                phone = value
                break
            phone_reason = phone_reason or why
        else:
            phone = None
            if phone_reason is not None:
                if "phone" in required:
                    if reason is None:
                        reason, reason_field = phone_reason, "phone"
                else:
                    issues.append(("phone", phone_reason))

    dob_value = dob_partial = None
    if dob is not None:
        is_csv = source.format == "csv"
        formats = source.date_formats if is_csv else ISO_DATE_FORMATS
        cache = _dob_cache(formats, today, not is_csv)
        parsed = cache.get(dob)
        if parsed is None:
            if len(cache) >= _DOB_CACHE_MAX:
                cache.clear()
            parsed = cache[dob] = parse_dob(dob, formats, today, not is_csv)
        dob_value, dob_partial, dob_reason = parsed
        if dob_reason is not None:
            if dob_reason == "excel_serial_date":
                notes.append(dob_reason)
            elif "date_of_birth" in required:
                if reason is None:
                    reason, reason_field = dob_reason, "date_of_birth"
            else:
                issues.append(("date_of_birth", dob_reason))
        elif dob_partial is not None:
            notes.append("dob_partial")

    active = None
    if active_raw is not None and active_raw.strip():
        active = _ACTIVE.get(active_raw.strip().lower())
        if active is None:
            notes.append("unrecognised_active")

    deceased = False
    death = get("date_of_death")
    if death and death.strip().lower() not in _NOT_DECEASED:
        deceased = True
        death = death.strip()
        if death.lower() not in _DECEASED_FLAGS and not _death_date_ok(death, source):
            issues.append(("date_of_death", "invalid_date_of_death"))

    if reason is None and ext is None and key is None:
        reason, reason_field = "missing_identifier", "external_id"
    if reason is None and required:
        present = {"email": key, "phone": phone, "date_of_birth": dob_value or dob_partial, "external_id": ext}
        for name in required:
            if present[name] is None:
                reason, reason_field = f"missing_{name}", name
                break

    return NormalizedRecord(
        raw.record_no, ext, first, last, email, key, key_form(first),
        phone, dob_value, dob_partial, active, reason, reason_field, notes, raw.event, raw.event_detail,
        field_issues=issues, deceased=deceased,
    )


def _death_date_ok(text: str, source: SourceConfig) -> bool:
    """A date of death in the source's declared formats (CSV) or an ISO date/dateTime (FHIR/HL7)."""
    if source.format == "csv":
        return any(_try_date_format(text, fmt) is not None for fmt in source.date_formats)
    return _ISO_DEATH.fullmatch(text) is not None


__all__ = ["NormalizedRecord", "WARNING_CODES", "normalize_record"]
