"""Person names: NFKC, trimmed (also of invisible format characters), inner whitespace collapsed; placeholders
become ``None``.

Placeholders are values an export writes when it has no name ("N/A", "UNKNOWN", "-", "?", ...). They are
matched case-insensitively, except the programming-null artefacts ("NULL", "null", "None", "NONE", "nan",
"NaN") which are matched case-sensitively so that the real surnames "Null" and "None" survive.

Formula-looking names ("=cmd|...", "+1", "@x") are kept verbatim: they are neutralized only when a
quarantine export is written for a spreadsheet, never in the database.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from include.normalize.keys import NOISE

_PLACEHOLDERS_ANY_CASE = frozenset(
    {"n/a", "n.a.", "n.a", "na.", "unknown", "unk", "unkn", "-", "--", "---", "?", "??", "???", ".", "..", "tbd",
     "<unknown>", "(unknown)", "not available", "not known", "xxx", "xx", "none given", "no name", "#n/a"}
)
_PLACEHOLDERS_EXACT = frozenset({"NULL", "null", "None", "NONE", "nan", "NaN", "NAN", '""', "''"})

_TITLES = frozenset({"dr", "mr", "mrs", "ms", "prof", "miss", "mx", "mstr", "master", "sir", "madam", "rev"})
_CREDENTIALS = frozenset({"md", "do", "phd", "rn", "np", "pa", "dds", "dmd", "pharmd", "mph", "msn", "fnp", "bsn", "mbbs"})


@lru_cache(maxsize=200_000)
def normalize_name(s: str | None) -> str | None:
    """NFKC-normalize, trim (white space and invisible format characters, ``keys.NOISE``) and collapse
    whitespace; ``None`` for empty values and placeholders."""
    if s is None:
        return None
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s).strip(NOISE)
    s = " ".join(s.split())
    if not s or s in _PLACEHOLDERS_EXACT or s.lower() in _PLACEHOLDERS_ANY_CASE:
        return None
    return s


def _is_title(token: str) -> bool:
    return token.rstrip(".").lower() in _TITLES


def split_full_name(s: str | None) -> tuple[str | None, str | None]:
    """Split a ``users.name`` into (first, last): titles removed, first = all tokens but the last.

    "Dr. Jane Q. Smith" -> ("Jane Q.", "Smith"); "Smith" -> (None, "Smith"); "Jane Smith, MD" ->
    ("Jane", "Smith"). Placeholders and empty values give (None, None).
    """
    name = normalize_name(s)
    if name is None:
        return None, None
    if "," in name:
        head, _, tail = name.partition(",")
        tail_tokens = [t.strip(".").lower() for t in tail.replace(",", " ").split()]
        if tail_tokens and all(t in _CREDENTIALS for t in tail_tokens):
            name = head.strip()
    tokens = name.split(" ")
    while tokens and _is_title(tokens[0]):
        tokens.pop(0)
    if not tokens:
        return None, None
    first = " ".join(tokens[:-1]) or None
    return normalize_name(first), normalize_name(tokens[-1])


__all__ = ["normalize_name", "split_full_name"]
