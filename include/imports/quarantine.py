"""Quarantine: rows that are not merged, kept with file, record number, reason code, field and values.

``write`` rebuilds one file's quarantine from its decisions; ``export_csv`` writes the clinic-facing CSV
(fix and re-send) with spreadsheet formulas neutralized. The CSV holds PHI by nature: it goes to the run
folder only (owner-only: 0600 in a 0700 folder), never to logs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from include.core import private_files
from include.imports.records import CANONICAL_FIELDS
from include.imports.sources import DEFAULT_FORMULA_PREFIXES
from include.imports.staging import run


@dataclass(frozen=True)
class QuarantineExport:
    path: str
    rows: int


def write(conn: sa.Connection, file_id: int) -> int:
    """Replace the file's quarantine rows with its current 'quarantine' decisions; returns the row count."""
    run(conn, "clear_quarantine", file_id=file_id)
    return run(conn, "write_quarantine", file_id=file_id).rowcount


def by_reason(conn: sa.Connection, file_id: int) -> dict[str, int]:
    return {r.reason_code: int(r.n) for r in run(conn, "quarantine_by_reason", file_id=file_id)}


def neutralize(value: str | None, prefixes: tuple[str, ...] = DEFAULT_FORMULA_PREFIXES) -> str:
    """A cell a spreadsheet will not evaluate: values starting with a formula prefix get a leading quote."""
    if value is None:
        return ""
    return "'" + value if value.startswith(prefixes) else value


def _export_sql() -> str:
    """The export query: canonical fields extracted as text in SQL, the other raw keys as one jsonb."""
    fields = ", ".join(f"raw_values ->> '{k}'" for k in CANONICAL_FIELDS)
    names = ", ".join(f"'{k}'" for k in CANONICAL_FIELDS)
    return (f"SELECT record_no, reason_code, field, {fields}, raw_values - ARRAY[{names}] "
            "FROM patient_pipeline.import_quarantine WHERE file_id = %s ORDER BY record_no")


def export_csv(conn: sa.Connection, file_id: int, dest: Path,
               prefixes: tuple[str, ...] = DEFAULT_FORMULA_PREFIXES) -> QuarantineExport:
    """Write ``dest`` (CSV: record_no, reason_code, field, then the record's values), streaming rows
    through a server-side cursor (a quarantine can hold a quarter of a million-row file)."""
    private_files.ensure_dir(dest.parent)
    n = 0
    width = len(CANONICAL_FIELDS)
    with conn.begin():
        raw = conn.connection.dbapi_connection
        with raw.cursor(name=f"quarantine_export_{int(file_id)}") as cur, \
                private_files.open_private(dest, "w", newline="", encoding="utf-8") as fh:
            cur.itersize = 5000
            cur.execute(_export_sql(), (file_id,))
            out = csv.writer(fh)
            out.writerow(["record_no", "reason_code", "field", *CANONICAL_FIELDS, "other_values"])
            for rec in cur:
                cells = [neutralize(v, prefixes) for v in rec[3:3 + width]]
                other_values = rec[3 + width]
                other = neutralize(json.dumps(other_values, ensure_ascii=False), prefixes) if other_values else ""
                out.writerow([rec[0], rec[1], rec[2] or "", *cells, other])
                n += 1
    return QuarantineExport(str(dest), n)
