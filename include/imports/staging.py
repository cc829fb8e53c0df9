"""Load one file's records into the index-free staging table with PostgreSQL COPY (streaming).

The reader yields ``RawRecord``s one at a time; each is normalized and written to a single
``COPY ... FROM STDIN``; psycopg sends the data in bounded blocks, so memory does not grow with the file.
Raw values are kept (as jsonb) only for rows the normalizer rejects: they go to the quarantine as read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache

import sqlalchemy as sa

from include import settings
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig
from include.normalize import NormalizedRecord, normalize_record

STAGING_COLUMNS = (
    "file_id", "record_no", "external_id", "first_name", "last_name", "email", "phone", "date_of_birth",
    "dob_partial", "active", "reason", "reason_field", "notes", "event", "event_detail", "raw",
)
COPY_SQL = (
    f"COPY {settings.PIPELINE_SCHEMA}.import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN"
)


@cache
def sql(name: str) -> str:
    """The text of ``include/sql/imports/<name>.sql`` without its comment lines (they document the file;
    psycopg's placeholder parser must not see their apostrophes)."""
    text = (settings.SQL_DIR / "imports" / f"{name}.sql").read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def run(conn: sa.Connection, name: str, **params: object) -> sa.CursorResult:
    """Execute one ``include/sql/imports`` file with named parameters."""
    return conn.execute(sa.text(sql(name)), params)


@dataclass(frozen=True)
class StageResult:
    file_id: int
    rows_read: int
    rows_quarantined_by_normalizer: int


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
    run(conn, "discard_decisions", file_id=file_id)


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
        discard(conn, file_id)
        raw_conn = conn.connection.dbapi_connection
        with raw_conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            write = copy.write_row
            for rec, raw in normalized_rows(records, source, today, counter):
                if rec.reason is None:
                    write((
                        file_id, rec.record_no, rec.external_id, rec.first_name, rec.last_name, rec.email,
                        rec.phone, rec.date_of_birth, rec.dob_partial, rec.active, None, None,
                        ",".join(rec.notes) if rec.notes else None, rec.event, rec.event_detail, None,
                    ))
                else:  # quarantined: only the raw record is kept (normalized values may be garbage)
                    write((
                        file_id, rec.record_no, None, None, None, None, None, None, None, None, rec.reason,
                        rec.reason_field, ",".join(rec.notes) if rec.notes else None, rec.event,
                        rec.event_detail, raw_json(raw.values),
                    ))
    analyze(conn)
    return StageResult(file_id, counter[0], counter[1])


def analyze(conn: sa.Connection) -> None:
    """Fresh planner statistics for the work tables (a COPY leaves none: joins would plan as nested loops)."""
    with conn.begin():
        conn.exec_driver_sql(f"ANALYZE {settings.PIPELINE_SCHEMA}.import_staging")
