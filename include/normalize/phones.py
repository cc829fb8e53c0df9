"""Phone numbers to E.164 with the source's default region.

Fast path (no library call): North American (NANP) shapes, i.e. 10 digits, or 11 digits starting with
1, or ``+1`` followed by 10 digits, written with any of the separators ``space ( ) - . /``, where the
area code and the exchange both start with 2-9. That is what ``phonenumbers`` calls a *possible* NANP
number; we deliberately do not check whether the area code is assigned (numbering plans change and the
clinic had the number). The fast path applies when the region is US/CA (or other NANP regions) or the
number starts with ``+1``.

Everything else goes to ``phonenumbers.parse(s, region)``: NANP results must pass the same shape rule,
other countries must be ``is_valid_number``. Extensions are dropped from the stored value (the column is
``varchar(20)`` and E.164 has no extension).

Reasons (all quarantine the row; the phone is never silently changed):

- ``unparseable_phone``: not a phone number in the region's plan.
- ``phone_leading_zero_stripped``: a spreadsheet dropped the leading zeros of an international number
  (``0044 7911 123456`` became ``447911123456``): the digits are valid only with ``00``/``+`` restored.
  Reported, not repaired. (National numbers written without their trunk 0, e.g. ``7911123456`` in GB,
  are accepted by ``phonenumbers`` and need no report.)
- ``excel_scientific_notation``: a spreadsheet turned the number into ``2.02555E+09``; digits are lost.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_NANP_REGIONS = frozenset({"US", "CA", "PR", "GU", "VI", "AS", "MP", "AG", "AI", "BB", "BM", "BS", "DM", "DO", "GD",
                           "JM", "KN", "KY", "LC", "MS", "SX", "TC", "TT", "VC", "VG"})
_SEPARATORS = str.maketrans("", "", " ()-./\u00a0")
#: ``[+]1`` optional, area code and exchange starting with 2-9, single separators between the groups.
_NANP_SHAPE = re.compile(r"(?:\+?1[ .-]?)?\(?([2-9]\d\d)\)?[ .-]?([2-9]\d\d)[ .-]?(\d{4})", re.ASCII)
_NANP_10 = re.compile(r"[2-9]\d\d[2-9]\d{6}")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+]?\d+")
_DIGITS_ONLY = re.compile(r"\d+")


def _nanp_fast(s: str, region: str) -> str | None:
    """E.164 for a plain NANP shape, else ``None`` (meaning: ask the library)."""
    if region not in _NANP_REGIONS and not s.startswith("+1"):
        return None
    m = _NANP_SHAPE.fullmatch(s)
    if m is None:
        return None
    return "+1" + m[1] + m[2] + m[3]


def _valid(number: phonenumbers.PhoneNumber) -> bool:
    if number.country_code == 1:
        return not number.italian_leading_zero and _NANP_10.fullmatch(str(number.national_number)) is not None
    return phonenumbers.is_valid_number(number)


def _parse(s: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(s, region)
    except NumberParseException:
        return None


def _stripped_zero(s: str, region: str) -> bool:
    """True when the digits only become a valid number with a leading 0 (or ``+``) restored."""
    digits = s.translate(_SEPARATORS)
    if not _DIGITS_ONLY.fullmatch(digits) or s.startswith(("+", "0")):
        return False
    for candidate in ("0" + digits, "+" + digits):
        number = _parse(candidate, region)
        if number is not None and _valid(number) and (candidate[0] == "+" or number.country_code != 1):
            return True
    return False


@lru_cache(maxsize=50_000)
def _library(s: str, region: str) -> tuple[str | None, str | None]:
    if _SCIENTIFIC.fullmatch(s):
        return None, "excel_scientific_notation"
    number = _parse(s, region)
    if number is not None and _valid(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164), None
    if _stripped_zero(s, region):
        return None, "phone_leading_zero_stripped"
    return None, "unparseable_phone"


def to_e164(s: str | None, region: str = "US") -> tuple[str | None, str | None]:
    """(E.164 string or None, reason code or None). Empty or absent input -> (None, None)."""
    if s is None:
        return None, None
    s = s.strip()
    if not s:
        return None, None
    fast = _nanp_fast(s, region)
    if fast is not None:
        return fast, None
    return _library(s, region)


__all__ = ["to_e164"]
