"""What a reader hands to the normalizer: one raw record per data record, or a whole-file rejection.

Readers never interpret values (no trimming, no parsing): ``RawRecord.values`` holds the text exactly as
found so that quarantined rows can be re-exported unchanged. ``None`` means the field is absent from the
record (column not mapped, FHIR element missing, HL7 field empty = "no information"); ``""`` means present
but empty (CSV cell with nothing in it). The HL7 explicit null ``""`` is kept as the two-character string
``'""'`` (see ``include.imports.readers.hl7_adt``).

File-level vs row-level problems
--------------------------------
``FileRejected`` rejects the whole file; nothing from it may be imported. Reason codes:

- ``empty_file``: zero bytes, only whitespace (or a lone BOM), or no header row at all.
  A CSV with a valid header and no data rows (header-only) is NOT rejected: it is accepted with 0
  records (a delta export on a night without new patients is legitimate; the ledger shows 0 rows read).
- ``binary_content``: NUL/control bytes or a binary signature (zip/xlsx, gzip, pdf, xls) in the first block.
- ``unreadable_encoding``: bytes that do not decode in the source's declared encoding, or a UTF-16 BOM
  on a source not declared UTF-16. Raised wherever found; late in a huge file it comes after records
  were already yielded, and the DB side discards what it staged from that file.
- ``missing_required_columns``: the CSV header lacks first_name or last_name, or both external_id and email.
- ``duplicate_columns``: two CSV header cells match one mapping entry.
- ``malformed_csv``: a field over the csv field limit (an unterminated quote swallowing the file).
- ``unsupported_format``: the source's format has no reader.

Row-level problem codes set by readers (``RawRecord.problem``; all quarantine the row):
``wrong_field_count``, ``field_too_long`` (a raw CSV value over ``MAX_RAW_FIELD_CHARS``, kept truncated;
an HL7 segment over 1 MB), ``nul_byte`` (CSV; replaced by U+FFFD), ``truncated_line``, ``invalid_json``,
``not_patient``, ``invalid_fhir``, ``line_too_long`` (an NDJSON or CSV line over the bound),
``message_too_long`` (an HL7 message over ``max_record_chars``), ``json_too_deep`` (JSON nested deeper
than ``MAX_JSON_DEPTH``), ``nul_character`` (a NUL in a FHIR/HL7 value, e.g. ``\u0000`` or ``\\X00\\``),
``invalid_hl7``. HL7 messages of other types than the supported ADT events are not records at all:
they are counted in ``ReadStats.unsupported_messages`` (``unsupported_message``, not an error).
The normalizer adds its own reasons (see ``include.normalize``). ``problem_field`` is a canonical field
(CSV), a FHIR element path (``birthDate``) or an HL7 segment (``PID``, ``MSH-9``), never a value.

Review-only events (``RawRecord.event``; the values are valid, but the DB side must not apply the
event itself): ``hl7_a40_merge`` (``event_detail`` = the prior identifier from MRG-1) and
``fhir_replaced_by`` / ``fhir_replaces`` (``event_detail`` = what ``link.other`` points to: the
reference, or ``identifier <system>|<value>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from include.core.errors import GenascopeError

CANONICAL_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth", "active",
                    "date_of_death")

#: Fields a source may declare required on top of the names and one identity (``required_fields``).
REQUIRABLE_FIELDS = ("email", "phone", "date_of_birth", "external_id")

#: Fields a CSV header must provide (via the source's column mapping) or the file is rejected.
REQUIRED_CSV_FIELDS = ("first_name", "last_name")

#: A raw field longer than this is reported by the reader as ``field_too_long`` and not kept in memory.
#: The patients column limits (names 100, email 255, ...) are enforced later by the normalizer.
MAX_RAW_FIELD_CHARS = 10_000


@dataclass(slots=True)
class RawRecord:
    """One data record as read from a file (values untouched)."""

    record_no: int
    values: dict[str, str | None] = field(default_factory=dict)
    problem: str | None = None
    problem_field: str | None = None
    event: str | None = None
    event_detail: str | None = None
    #: further candidates for a field, in the reader's order of preference (several FHIR telecoms, HL7
    #: XTN repetitions): the normalizer uses the first valid one of ``values[f]`` then ``alternates[f]``.
    alternates: dict[str, list[str]] | None = None


class FileRejected(GenascopeError):
    """The whole file is rejected; nothing from it may be imported.

    ``reason_code`` is one of the codes in the module docstring; the message is PHI-free (byte offsets,
    line/record numbers, column names from the header at most) and says what to do next.
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
