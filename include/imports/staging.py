"""Load one file's records into the index-free staging table with PostgreSQL COPY (streaming).

The reader yields ``RawRecord``s one at a time; each is normalized, formatted as one line of COPY's text
format (our own escaping: much cheaper than a per-row ``write_row``) and sent to a single
``COPY ... FROM STDIN`` in blocks of ``COPY_BLOCK_ROWS`` lines, so memory does not grow with the file.
Raw values are kept (as jsonb) only for rows the normalizer rejects: they go to the quarantine as read.
The load runs with ``synchronous_commit = off`` (the staging table is UNLOGGED; a lost commit of it is
detected by the row-count check and re-staged).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from include.core import settings, sql_files
from include.imports.record_normalizer import NormalizedRecord, normalize_record
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig

STAGING_COLUMNS = (
    "file_id", "record_no", "external_id", "first_name", "last_name", "email", "phone", "date_of_birth",
    "dob_partial", "active", "reason", "reason_field", "notes", "event", "event_detail", "raw",
    "field_issues", "deceased",
)
COPY_SQL = (
    f"COPY {settings.PIPELINE_SCHEMA}.import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN"
)


def sql(name: str) -> str:
    """The text of ``include/sql/imports/<name>.sql`` without its comment lines (include/core/sql_files.py)."""
    return sql_files.text("imports", name)


#: Parameters a statement may leave out: ``from_record`` (0: the whole file; see decide.sql).
OPTIONAL_PARAMS = {"from_record": 0}


def run(conn: sa.Connection, name: str, **params: object) -> sa.CursorResult:
    """Execute one ``include/sql/imports`` file with named parameters."""
    text = sql(name)
    for key, default in OPTIONAL_PARAMS.items():
        if key not in params and f":{key}" in text:
            params[key] = default
    return conn.execute(sa.text(text), params)


@dataclass(frozen=True)
class StageResult:
    file_id: int
    rows_read: int
    rows_quarantined_by_normalizer: int


#: Lines per ``copy.write`` (about 100-200 bytes each).
COPY_BLOCK_ROWS = 2000
#: COPY text format: backslash, tab, newline and carriage return are escaped; ``\N`` is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def copy_text(value: str | None) -> str:
    """One text value as a COPY text-format field (``\\N`` for NULL)."""
    if value is None:
        return _NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:  # rare: translate is slow
        return value.translate(_COPY_ESCAPES)
    return value


def copy_line(file_id: int, rec: NormalizedRecord, raw: RawRecord) -> str:
    """The staging row of one normalized record as one COPY text-format line (columns of STAGING_COLUMNS)."""
    t = copy_text
    notes = t(",".join(rec.notes)) if rec.notes else _NULL
    if rec.reason is None:
        dob = rec.date_of_birth
        active = rec.active
        return (f"{file_id}\t{rec.record_no}\t{t(rec.external_id)}\t{t(rec.first_name)}\t{t(rec.last_name)}\t"
                f"{t(rec.email)}\t{t(rec.phone)}\t{_NULL if dob is None else dob.isoformat()}\t"
                f"{t(rec.dob_partial)}\t{_NULL if active is None else ('t' if active else 'f')}\t{_NULL}\t{_NULL}\t"
                f"{notes}\t{t(rec.event)}\t{t(rec.event_detail)}\t{_NULL}\t"
                f"{t(','.join(f'{f}:{c}' for f, c in rec.field_issues)) if rec.field_issues else _NULL}\t"
                f"{'t' if rec.deceased else 'f'}\n")
    # quarantined: only the raw record is kept (normalized values may be garbage)
    return (f"{file_id}\t{rec.record_no}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t{_NULL}\t"
            f"{t(rec.reason)}\t{t(rec.reason_field)}\t{notes}\t{t(rec.event)}\t{t(rec.event_detail)}\t"
            f"{t(raw_json(raw.values))}\t{_NULL}\t{'t' if rec.deceased else 'f'}\n")


def normalized_rows(records: Iterable[RawRecord], source: SourceConfig, today: date,
                    counter: list[int]) -> Iterator[tuple[NormalizedRecord, RawRecord]]:
    """Normalize records lazily; ``counter[0]`` counts rows read, ``counter[1]`` rows with a reason."""
    for raw in records:
        counter[0] += 1
        rec = normalize_record(raw, source, today)
        if rec.reason is not None:
            counter[1] += 1
        yield rec, raw


def raw_json(values: dict[str, str | None]) -> str:
    """The raw values as JSON for jsonb (which cannot hold NUL characters: they become U+FFFD)."""
    clean = {k: (v.replace("\x00", "\ufffd") if v and "\x00" in v else v) for k, v in values.items()}
    return json.dumps(clean, ensure_ascii=False)


def discard(conn: sa.Connection, file_id: int) -> None:
    """Delete the staged rows and decisions of ``file_id`` (caller commits)."""
    run(conn, "discard_staging", file_id=file_id)
    run(conn, "discard_decisions", file_id=file_id, from_record=None)


def staged_count(conn: sa.Connection, file_id: int) -> int:
    return int(run(conn, "count_staged", file_id=file_id).scalar_one())


def stage(conn: sa.Connection, file_id: int, records: Iterable[RawRecord], source: SourceConfig,
          today: date) -> StageResult:
    """Replace the staged rows of ``file_id`` with the normalized ``records`` in one transaction.

    The caller's connection must not be in a transaction. A ``FileRejected`` (or any error) raised by the
    reader mid-stream aborts the COPY and rolls the transaction back: nothing of the file stays staged.
    """
    counter = [0, 0]
    with conn.begin():
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        discard(conn, file_id)
        raw_conn = conn.connection.dbapi_connection
        with raw_conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            block: list[str] = []
            for rec, raw in normalized_rows(records, source, today, counter):
                block.append(copy_line(file_id, rec, raw))
                if len(block) >= COPY_BLOCK_ROWS:
                    copy.write("".join(block))
                    block.clear()
            if block:
                copy.write("".join(block))
    analyze(conn)
    return StageResult(file_id, counter[0], counter[1])


def analyze(conn: sa.Connection) -> None:
    """Fresh planner statistics for the work tables (a COPY leaves none: joins would plan as nested loops)."""
    with conn.begin():
        conn.exec_driver_sql(f"ANALYZE {settings.PIPELINE_SCHEMA}.import_staging")
