"""CSV exports from a clinic's EHR / practice-management system, streamed row by row.

- Encoding: the source's ``encoding`` (``utf-8`` also accepts a byte-order mark; ``cp1252`` must be
  declared per source). Decoded incrementally and strictly: a byte that does not decode, even on row
  900,000, raises ``FileRejected("unreadable_encoding")``.
- The ``csv`` module parses a text stream opened with ``newline=""``: quoted newlines, CRLF/LF/CR line
  ends, the source's ``delimiter``.
- Header: the first non-blank row. Columns are matched to the source's ``column_mapping`` ignoring case,
  surrounding spaces and repeated inner spaces, in any order. Unmapped columns are ignored and counted in
  ``stats.extra_columns_ignored``. File-level rejections (``FileRejected``): ``empty_file`` (zero bytes,
  whitespace only, no header row), ``missing_required_columns`` (no column for first_name or last_name,
  or for neither external_id nor email; the message names the configured headers and hints at a wrong
  delimiter), ``duplicate_columns`` (two columns match one mapping entry: which one is meant would be a
  guess), ``malformed_csv`` (a header line over ``MAX_LINE_CHARS``, or a field over the csv field limit,
  typically an unterminated quote that swallows the rest of the file).
- Header-only file (a valid header and no data rows): **accepted with 0 records**. A delta export on a
  night without new patients is legitimate; the ledger records 0 rows read and the file is processed.
- Rows: blank lines and rows whose cells are all empty are skipped (counted in
  ``stats.blank_lines_skipped``, not numbered). Every other row is one ``RawRecord`` numbered from 1.
  Row problems: ``wrong_field_count`` (cell count differs from the header's; values mapped by position
  as far as they go, for the quarantine record), ``field_too_long`` (a mapped cell over
  ``MAX_RAW_FIELD_CHARS``; kept truncated), ``nul_byte`` (a NUL character, replaced by U+FFFD because
  PostgreSQL text cannot hold it), ``line_too_long`` (a physical line over ``MAX_LINE_CHARS``: skipped to
  its end without being kept in memory; the rest of the file goes on).
- Values are passed on exactly as found; formula-looking (``=``, ``+``, ``-``, ``@``) and SQL-looking
  cells are data like any other.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from include.imports.readers._stream import ReadStats, RecordStream, encoding_rejection, open_text
from include.imports.records import MAX_RAW_FIELD_CHARS, FileRejected, RawRecord
from include.imports.sources import SourceConfig

#: Longest physical line accepted (characters); longer means a broken file, not a patient row.
MAX_LINE_CHARS = 1_000_000
#: Longest single field the csv parser accepts (a quoted field may span lines).
CSV_FIELD_LIMIT = 1_000_000

if csv.field_size_limit() < CSV_FIELD_LIMIT:  # process-wide setting; only ever raised
    csv.field_size_limit(CSV_FIELD_LIMIT)

_OTHER_DELIMITERS = (";", "\t", "|", ",")
#: Stands in for a physical line over MAX_LINE_CHARS (a Unicode noncharacter: never in a real export).
_OVERLONG = "\ufdd0"


def header_key(name: str) -> str:
    """How header cells and mapping keys are compared: case-, space- and BOM-insensitive."""
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def _bounded_lines(text: io.TextIOBase, overlong: list[int]) -> Iterator[str]:
    """Physical lines; one over ``MAX_LINE_CHARS`` is skipped to its end (never held whole) and replaced by
    ``_OVERLONG`` (counted in ``overlong[0]``) so that its row is quarantined as ``line_too_long`` and the
    file goes on."""
    readline = text.readline
    while True:
        line = readline(MAX_LINE_CHARS)
        if not line:
            return
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while True:
                rest = readline(MAX_LINE_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            line = _OVERLONG + "\n"
            overlong[0] += 1
        yield line


def _column_positions(header: list[str], source: SourceConfig) -> dict[str, int]:
    """canonical field -> column index, or ``FileRejected`` when the header cannot be used."""
    keys = [header_key(h) for h in header]
    positions: dict[str, int] = {}
    for configured, canonical in source.column_mapping.items():
        wanted = header_key(configured)
        found = [i for i, k in enumerate(keys) if k == wanted]
        if len(found) > 1:
            raise FileRejected(
                "duplicate_columns",
                f"the header has {len(found)} columns named {configured!r}; remove the duplicate or map it "
                "explicitly in the clinic sources configuration",
            )
        if found:
            positions[canonical] = found[0]
    expected = {canonical: configured for configured, canonical in source.column_mapping.items()}
    missing = [f for f in ("first_name", "last_name") if f not in positions]
    if "external_id" not in positions and "email" not in positions:
        missing.append(" or ".join(f for f in ("external_id", "email") if f in expected) or "external_id or email")
    if missing:
        wanted = ", ".join(
            f"{m} (column {expected[m]!r})" if m in expected else m for m in missing
        )
        hint = ""
        if len(header) == 1:
            for other in _OTHER_DELIMITERS:
                if other != source.delimiter and other in header[0]:
                    hint = f"; the header looks {other!r}-delimited: check the source's delimiter"
                    break
        raise FileRejected(
            "missing_required_columns",
            f"the header has {len(header)} column(s) and none for {wanted}{hint}; fix the export or the "
            "source's column_mapping",
        )
    return positions


def _records(path: Any, source: SourceConfig, stats: ReadStats) -> Iterator[RawRecord]:
    record_no = 0
    with open_text(path, source.encoding) as text:
        try:
            overlong = [0]  # set when a line was replaced: only then are the cells of a row searched for it
            rows = csv.reader(_bounded_lines(text, overlong), delimiter=source.delimiter, quotechar='"',
                              strict=False)
            header = None
            for row in rows:
                if row and any(cell.strip() for cell in row):
                    header = row
                    break
            if header is None:
                raise FileRejected("empty_file", "the file has no header row; ask the clinic to re-send the export")
            if overlong[0] and any(_OVERLONG in cell for cell in header):
                raise FileRejected(
                    "malformed_csv",
                    f"the header line is longer than {MAX_LINE_CHARS} characters; check the export (wrong line ends "
                    "or a binary column) and ask the clinic to re-send it",
                )
            positions = _column_positions(header, source)
            stats.extra_columns_ignored = len(header) - len(positions)
            width = len(header)
            items = tuple(positions.items())
            for row in rows:
                if not row or not any(row):
                    stats.blank_lines_skipped += 1
                    continue
                record_no += 1
                if overlong[0]:
                    overlong[0] = 0
                    if any(_OVERLONG in cell for cell in row):
                        yield RawRecord(record_no, {}, "line_too_long", None)
                        stats.records = record_no
                        continue
                n = len(row)
                problem = problem_field = None
                if n != width:
                    problem = "wrong_field_count"
                values: dict[str, str | None] = {}
                for canonical, i in items:
                    value = row[i] if i < n else None
                    if value is not None:
                        if len(value) > MAX_RAW_FIELD_CHARS:
                            value = value[:MAX_RAW_FIELD_CHARS]
                            if problem is None:
                                problem, problem_field = "field_too_long", canonical
                        if "\x00" in value:
                            value = value.replace("\x00", "\ufffd")
                            if problem is None:
                                problem, problem_field = "nul_byte", canonical
                    values[canonical] = value
                yield RawRecord(record_no, values, problem, problem_field)
                stats.records = record_no
        except UnicodeDecodeError:
            raise encoding_rejection(source.encoding, record_no + 1) from None
        except csv.Error:
            raise FileRejected(
                "malformed_csv",
                f"the CSV parser failed after data record {record_no} (a field over {CSV_FIELD_LIMIT} characters, "
                "usually an unterminated quote); fix the export and re-send it",
            ) from None


def read_csv(path: Any, source: SourceConfig) -> RecordStream:
    """Stream the records of one CSV file (see the module docstring)."""
    stats = ReadStats()
    return RecordStream(_records(path, source, stats), stats)


__all__ = ["read_csv", "header_key", "MAX_LINE_CHARS"]
