"""Dates of birth, parsed only with the formats the source declares (never guessed).

``parse_dob(s, formats, today, allow_partial=False) -> (date | None, partial_text | None, reason | None)``

- Only ``formats`` are tried, in order. ``3/4/65`` or ``1980`` parse only if a declared format says so.
  Two-digit-year formats (``%y``) are refused by the source configuration: for a birth date the century
  would be a guess.
- ``allow_partial`` (FHIR ``birthDate`` and HL7 TS, which readers hand over as ``YYYY``, ``YYYY-MM`` or
  ``YYYY-MM-DD``): ``1965`` / ``1965-03`` are kept as ``partial_text`` and no day is invented
  (``patients.date_of_birth`` stays NULL; the normalizer adds the warning note ``dob_partial``).
- Reasons: ``invalid_dob`` (no declared format matches, or an impossible date such as 1965-02-30),
  ``dob_in_future`` (after ``today``), ``dob_before_1900``, ``excel_serial_date``.
- Excel serial dates: a bare 5-digit number (optionally ``.0``), e.g. ``23456``, is what a spreadsheet
  shows when a date cell lost its format. It is *reported, not converted*: the 1900/1904 date systems
  make the conversion a guess. ``normalize_record`` treats it as a warning: the row is imported without a
  date of birth and carries the note ``excel_serial_date`` (a later corrected file fills the date in,
  because updates only fill or change values). Every other reason quarantines the row.

Results are cached (dates of birth repeat a lot in a clinic file).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

MIN_DOB = date(1900, 1, 1)

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2}))?")
_EXCEL_SERIAL = re.compile(r"\d{5}(?:\.0+)?")

#: Formats with a regex fast path: format -> (regex, group index of year, month, day).
_FAST = {"%Y-%m-%d": (_ISO, 1, 2, 3), "%m/%d/%Y": (_US, 3, 1, 2), "%d/%m/%Y": (_US, 3, 2, 1)}


def _try_format(s: str, fmt: str) -> date | None:
    fast = _FAST.get(fmt)
    if fast is not None:
        regex, y, m, d = fast
        match = regex.fullmatch(s)
        if match is None:
            return None
        try:
            return date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
        except ValueError:
            return None
    try:
        return datetime.strptime(s, fmt).date()
    except ValueError:
        return None


def _check_range(value: date, today: date) -> str | None:
    if value > today:
        return "dob_in_future"
    if value < MIN_DOB:
        return "dob_before_1900"
    return None


def _partial(s: str, today: date) -> tuple[date | None, str | None, str | None] | None:
    match = _PARTIAL.fullmatch(s)
    if match is None:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    if month is not None and not 1 <= month <= 12:
        return None, None, "invalid_dob"
    if year < MIN_DOB.year:
        return None, None, "dob_before_1900"
    if (year, month or 0) > (today.year, today.month if month else 0):
        return None, None, "dob_in_future"
    return None, s, None


@lru_cache(maxsize=100_000)
def parse_dob(
    s: str | None, formats: tuple[str, ...], today: date, allow_partial: bool = False
) -> tuple[date | None, str | None, str | None]:
    """(date, partial text, reason): see the module docstring. Empty/absent input -> (None, None, None)."""
    if s is None:
        return None, None, None
    s = s.strip()
    if not s:
        return None, None, None
    for fmt in formats:
        value = _try_format(s, fmt)
        if value is not None:
            reason = _check_range(value, today)
            return (None, None, reason) if reason else (value, None, None)
    if allow_partial:
        partial = _partial(s, today)
        if partial is not None:
            return partial
    if _EXCEL_SERIAL.fullmatch(s):
        return None, None, "excel_serial_date"
    return None, None, "invalid_dob"


__all__ = ["MIN_DOB", "parse_dob"]
