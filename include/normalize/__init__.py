"""Normalization of one raw clinic record into the values the merge uses (pure functions, no I/O).

``normalize_record(raw, source, today)`` is called once per record in the import's hot path. It never
raises for bad data: a record either comes back clean, or with ``reason``/``reason_field`` set (the row
is quarantined), and possibly with warning ``notes`` (the row is imported, the notes are recorded).

Quarantine reasons (``reason``; first problem in field order wins):

=============================  ====================================================================
reader problems                ``wrong_field_count``, ``field_too_long``, ``invalid_json``,
                               ``truncated_line``, ``invalid_fhir``, ``not_patient``, ``invalid_hl7``,
                               ``unsupported_message``, ``nul_byte`` (see ``include.imports.records``)
``field_too_long``             over the ``patients`` column width: external_id 255, first/last name
                               100, email 255 (after trimming / normalization)
``missing_first_name``         empty or placeholder first name (``N/A``, ``UNKNOWN``, ``-``, ``?`` ...)
``missing_last_name``          same for the last name
``invalid_email``              not a syntactically valid address
``unparseable_phone``          not a phone number of the source's region (also
                               ``phone_leading_zero_stripped``, ``excel_scientific_notation``)
``invalid_dob``                no declared format matches / impossible date
``dob_in_future``              after ``today``
``dob_before_1900``            before 1900-01-01
``missing_identifier``         neither an external id nor an e-mail: such a row could never be matched
                               again, so every re-delivery would create another patient
=============================  ====================================================================

Warnings (``notes``; the row is imported):

- ``excel_serial_date``: DOB looked like an Excel serial number (``23456``); imported without a DOB.
- ``dob_partial``: FHIR/HL7 partial DOB (``1965``, ``1965-03``) kept in ``dob_partial``, ``date_of_birth``
  stays NULL (no invented day).
- ``hl7_explicit_null``: an HL7 field held ``""`` ("delete this value"). Updates never blank a stored
  value, so the DB side treats it exactly like an absent value; the note records that the sender asked.
- ``unrecognised_active``: an ``active`` value other than true/false/yes/no/1/0/y/n/active/inactive.

Keys for matching are the key form (DATA-MODEL §4 rule 3, ``include.normalize.keys``, the twin of the SQL
``patient_pipeline.email_key`` / ``key_form`` the backfill and the import decisions use): ``email_key``
(valid e-mails only) and ``first_name_key``. Stored values are trimmed of white space and invisible format
characters (``keys.trim_noise``) before they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from include.imports.records import RawRecord
from include.imports.sources import SourceConfig
from include.normalize.dates import parse_dob
from include.normalize.emails import is_valid_email
from include.normalize.keys import email_key, key_form, trim_noise
from include.normalize.names import normalize_name
from include.normalize.phones import to_e164

#: ``patients`` column widths (DATA-MODEL.md section 3).
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

    @property
    def quarantined(self) -> bool:
        return self.reason is not None


def normalize_record(raw: RawRecord, source: SourceConfig, today: date) -> NormalizedRecord:
    """Normalize one record; see the module docstring for reasons and notes."""
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

    key = None
    if email is not None:
        email = trim_noise(email) or None
        if email is not None:
            if len(email) > MAX_EMAIL:
                if reason is None:
                    reason, reason_field = "field_too_long", "email"
            elif is_valid_email(email):
                key = email_key(email)
            elif reason is None:
                reason, reason_field = "invalid_email", "email"

    if phone is not None:
        phone, phone_reason = to_e164(phone, source.default_phone_region)
        if phone_reason is not None and reason is None:
            reason, reason_field = phone_reason, "phone"

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
            elif reason is None:
                reason, reason_field = dob_reason, "date_of_birth"
        elif dob_partial is not None:
            notes.append("dob_partial")

    active = None
    if active_raw is not None and active_raw.strip():
        active = _ACTIVE.get(active_raw.strip().lower())
        if active is None:
            notes.append("unrecognised_active")

    if reason is None and ext is None and key is None:
        reason, reason_field = "missing_identifier", "external_id"

    return NormalizedRecord(
        raw.record_no, ext, first, last, email, key, key_form(first),
        phone, dob_value, dob_partial, active, reason, reason_field, notes, raw.event, raw.event_detail,
    )


__all__ = ["NormalizedRecord", "WARNING_CODES", "normalize_record"]
