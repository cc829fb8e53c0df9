"""E-mail addresses: stored as given (trimmed of white space and invisible characters), matched by their key
form (``include.normalize.keys.email_key``, docs/contracts/data-model.md §4 rule 3).

Syntax check: a regular-expression fast path accepts the common dot-atom shapes
(``local@label.label.tld``, ASCII only, no special-use TLD); everything else goes to ``email_validator``
(no DNS lookups). The fast path accepts only addresses the library also accepts, so both paths agree.
It also rejects, without the library, the same well-formed shapes under a special-use or reserved domain
(``mail.test``, ``x.localhost``, ...): the library rejects every such domain (unless its process-wide
``TEST_ENVIRONMENT`` allows ``test``), and one library call per distinct address is the hot path's most
expensive step when a file is full of them.
Invalid syntax -> reason ``invalid_email`` (quarantine). Length limits (255 characters, the
``patients.email`` width) are checked by ``include.imports.record_normalizer.normalize_record`` as ``field_too_long``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import email_validator
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from include.normalize import keys

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+([A-Za-z]{{2,63}})")
_SPECIAL_TLDS = frozenset(d for d in SPECIAL_USE_DOMAIN_NAMES if "." not in d)
_SPECIAL_DOTTED = tuple(d for d in SPECIAL_USE_DOMAIN_NAMES if "." in d)


def _fast(s: str) -> bool | None:
    """True/False when the fast path can tell (same answer as the library), None to ask the library."""
    m = _FAST.fullmatch(s)
    if m is None or len(s) > 254 or s.index("@") > 64:
        return None
    tld = m[1].lower()
    special = tld in _SPECIAL_TLDS
    if not special and _SPECIAL_DOTTED:
        domain = s[s.index("@") + 1 :].lower()
        special = any(domain == d or domain.endswith("." + d) for d in _SPECIAL_DOTTED)
    if not special:
        return True
    if tld == "test" and email_validator.TEST_ENVIRONMENT:
        return None  # the library may accept ``.test`` in a test environment
    return False


@lru_cache(maxsize=20_000)
def _library_ok(s: str) -> bool:
    try:
        validate_email(s, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def is_valid_email(s: str) -> bool:
    """Syntax check of an already-trimmed address."""
    fast = _fast(s)
    return fast if fast is not None else _library_ok(s)


def check_email(s: str | None) -> tuple[str | None, str | None]:
    """(value to store = trimmed as given, reason code or None). Empty -> (None, None)."""
    if s is None:
        return None, None
    s = keys.trim_noise(s)
    if not s:
        return None, None
    if is_valid_email(s):
        return s, None
    return s, "invalid_email"


def email_key(s: str | None) -> str | None:
    """The key form of ``s`` (``keys.email_key``) when ``s`` is a syntactically valid address, else ``None``."""
    value, reason = check_email(s)
    if value is None or reason is not None:
        return None
    return keys.email_key(value)


__all__ = ["check_email", "email_key", "is_valid_email"]
