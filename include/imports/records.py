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
- ``malformed_csv``: a physical line over 1,000,000 characters or a field over the csv field limit.
- ``unsupported_format``: the source's format has no reader.

Row-level problem codes set by readers (``RawRecord.problem``; all quarantine the row):
``wrong_field_count``, ``field_too_long`` (a raw CSV value over ``MAX_RAW_FIELD_CHARS``, kept truncated;
an HL7 segment over 1 MB), ``nul_byte`` (CSV; replaced by U+FFFD), ``truncated_line``, ``invalid_json``,
``not_patient``, ``invalid_fhir``, ``line_too_long`` (NDJSON), ``invalid_hl7``, ``unsupported_message``.
The normalizer adds its own reasons (see ``include.normalize``). ``problem_field`` is a canonical field
(CSV), a FHIR element path (``birthDate``) or an HL7 segment (``PID``, ``MSH-9``), never a value.

Review-only events (``RawRecord.event``; the values are valid, but the DB side must not apply the
event itself): ``hl7_a40_merge`` (``event_detail`` = the prior identifier from MRG-1) and
``fhir_replaced_by`` (``event_detail`` = the other Patient reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CANONICAL_FIELDS = ("external_id", "first_name", "last_name", "email", "phone", "date_of_birth", "active")

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


class FileRejected(Exception):
    """The whole file is rejected; nothing from it may be imported.

    ``reason_code`` is one of the codes in the module docstring; the message is PHI-free (byte offsets,
    line/record numbers, column names from the header at most) and says what to do next.
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
