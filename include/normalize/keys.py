"""The key form (docs/contracts/data-model.md §4 rule 3): when two texts are "the same e-mail" or "the same name".

The one Python definition of the identity keys; its SQL twin is ``include/sql/pipeline/020_key_form.sql``
(``patient_pipeline.key_form``, ``email_key``, ``trim_noise``) and a property test proves on both servers
that the two agree for every character class below. Imports, the API and any other Python code that
matches people use these functions, never their own ``lower(strip())``.

* :func:`key_form` of a name (or any identity text): invisible format characters removed everywhere,
  Unicode NFKC, white-space runs folded to one space and removed at both ends, spaces around a hyphen
  dropped ("Anne - Marie" = "Anne-Marie"), then lower-cased. ``""`` for a text of noise only.
* :func:`email_key`: the same, but every white space removed (none at all inside an e-mail).
* :func:`trim_noise`: what is *stored*: the value as typed, without white space and invisible format
  characters at both ends.

Lower-casing is Unicode's simple (one character to one character) mapping, which is what PostgreSQL's
``lower()`` does under a UTF-8 ``LC_CTYPE`` (C.UTF-8, en_US.UTF-8): Python's ``str.lower`` differs only
for U+0130 (``İ`` -> ``i`` plus a combining dot) and the final-sigma rule (``Σ`` at a word end -> ``ς``),
both handled here. Printable ASCII without a space (almost every e-mail and first name) takes a fast path.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Unicode White_Space: tab, LF, VT, FF, CR, space, NEL, NBSP, ogham space, U+2000-U+200A, line and
#: paragraph separators, narrow NBSP, medium mathematical space, ideographic space.
WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
              + "\u2028\u2029\u202f\u205f\u3000")
#: Invisible format characters: soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width
#: space / non-joiner / joiner, LRM/RLM, bidi embeddings and isolates, word joiner, invisible operators,
#: zero-width no-break space (BOM).
FORMAT = ("\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
          "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
NOISE = WHITESPACE + FORMAT

_DROP_FORMAT = dict.fromkeys(map(ord, FORMAT))
_DROP_WHITESPACE = dict.fromkeys(map(ord, WHITESPACE))
_WHITESPACE_RUN = re.compile(f"[{re.escape(WHITESPACE)}]+")
_ASCII_WHITESPACE = "\t\n\x0b\x0c\r "
_ASCII_WHITESPACE_RUN = re.compile("[\t\n\x0b\x0c\r ]+")
_DROP_ASCII_WHITESPACE = dict.fromkeys(map(ord, _ASCII_WHITESPACE))
_HYPHEN = re.compile(" ?- ?")


def _fast(s: str) -> bool:
    """Printable ASCII without a space: the key is ``s.lower()`` (the SQL test is ``x !~ '[^!-~]'``)."""
    return s.isascii() and s.isprintable() and " " not in s


def _lower(s: str) -> str:
    """Unicode simple lower-case mapping (PostgreSQL ``lower()`` under a UTF-8 LC_CTYPE)."""
    if "\u0130" in s or "\u03a3" in s:
        return "".join("i" if c == "\u0130" else c.lower() for c in s)
    return s.lower()


def trim_noise(s: str | None) -> str | None:
    """The value to store: ``s`` without white space and invisible format characters at both ends."""
    return None if s is None else s.strip(NOISE)


@lru_cache(maxsize=65_536)
def _key_form(s: str) -> str:
    if s.isascii():  # NFKC leaves ASCII as it is and it holds no format character (as the SQL's 2nd tier)
        s = _ASCII_WHITESPACE_RUN.sub(" ", s).strip(" ")
        return _HYPHEN.sub("-", s).lower() if "-" in s else s.lower()
    s = unicodedata.normalize("NFKC", s.translate(_DROP_FORMAT))
    s = _WHITESPACE_RUN.sub(" ", s).strip(" ")
    if "-" in s:
        s = _HYPHEN.sub("-", s)
    return _lower(s)


def key_form(s: str | None) -> str | None:
    """The key form of a name or other identity text (``None`` stays ``None``). Names repeat: the texts
    that need more than the fast path are cached."""
    if s is None:
        return None
    if _fast(s):
        return s.lower()
    return _key_form(s)


def email_key(s: str | None) -> str | None:
    """The key form of an e-mail address: as :func:`key_form`, without any white space at all."""
    if s is None:
        return None
    if _fast(s):
        return s.lower()
    if s.isascii():
        return s.translate(_DROP_ASCII_WHITESPACE).lower()
    return _lower(unicodedata.normalize("NFKC", s.translate(_DROP_FORMAT)).translate(_DROP_WHITESPACE))


__all__ = ["FORMAT", "NOISE", "WHITESPACE", "email_key", "key_form", "trim_noise"]
