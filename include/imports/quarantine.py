"""Quarantine: rows that are not merged, kept with file, record number, reason code, field and values.

``write`` rebuilds one file's quarantine from its decisions; ``export_csv`` writes the clinic-facing CSV
(fix and re-send) with spreadsheet formulas neutralized. The CSV holds PHI by nature: it goes to the run
folder only, never to logs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

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


def export_csv(conn: sa.Connection, file_id: int, dest: Path,
               prefixes: tuple[str, ...] = DEFAULT_FORMULA_PREFIXES) -> QuarantineExport:
    """Write ``dest`` (CSV: record_no, reason_code, field, then the record's values), streaming rows."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with conn.begin():
        stmt = sa.text("SELECT record_no, reason_code, field, raw_values FROM patient_pipeline.import_quarantine "
                       "WHERE file_id = :f ORDER BY record_no").execution_options(stream_results=True, yield_per=2000)
        result = conn.execute(stmt, {"f": file_id})
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["record_no", "reason_code", "field", *CANONICAL_FIELDS, "other_values"])
            for rec in result:
                values = dict(rec.raw_values or {})
                cells = [neutralize(_text(values.pop(k, None)), prefixes) for k in CANONICAL_FIELDS]
                other = neutralize(json.dumps(values, ensure_ascii=False), prefixes) if values else ""
                out.writerow([rec.record_no, rec.reason_code, rec.field or "", *cells, other])
                n += 1
    return QuarantineExport(str(dest), n)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
