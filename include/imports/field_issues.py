"""Field issues: an optional value that failed validation was dropped, and the row imported without it.

docs/contracts/imports.md "Real-world feeds": a row is quarantined only when what identifies the person is missing or
invalid; an invalid phone, date of birth or (next to an external id) e-mail costs only that value. The
normalizer lists such problems per record (``NormalizedRecord.field_issues``), staging keeps them as
``field:reason`` text, and ``write`` turns them into ``patient_pipeline.import_field_issue`` rows (file,
record number, field, reason code; never the value) for every row that is not quarantined anyway. They
count towards the reject ratio (a wrong date format in every row still holds the file back) and are
reported per file and in the night summary.
"""

from __future__ import annotations

import sqlalchemy as sa

from include.imports.staging import run


def write(conn: sa.Connection, file_id: int) -> int:
    """Replace the file's field issues from its staged rows and decisions; returns the rows touched."""
    run(conn, "clear_field_issues", file_id=file_id)
    return int(run(conn, "write_field_issues", file_id=file_id).scalar_one())


def by_reason(conn: sa.Connection, file_id: int) -> dict[str, int]:
    """Field issues of the file per reason code (e.g. ``{"unparseable_phone": 3}``)."""
    out: dict[str, int] = {}
    for r in run(conn, "field_issues_by_reason", file_id=file_id):
        out[r.reason_code] = out.get(r.reason_code, 0) + int(r.n)
    return out


def by_field(conn: sa.Connection, file_id: int) -> dict[str, int]:
    """Field issues of the file per ``field:reason`` (for the operator: which column to fix)."""
    return {f"{r.field}:{r.reason_code}": int(r.n) for r in run(conn, "field_issues_by_reason", file_id=file_id)}
