"""A night that imported no file says why on its report (issue 28): the files were taken by another run
of the import (named), or nothing was waiting in incoming/."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import pipeline_schema
from include.imports import night


def register(engine: sa.Engine, run_id: str, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, "
            "size_bytes, status, dag_run_id) VALUES ('clinic-north-csv', 'acct-1', :n, :l, md5(:n) || md5(:n), "
            "10, 'done', :r)"), {"n": name, "l": f"landing/north/processed/{name}", "r": run_id})


def test_a_night_whose_files_another_run_took_names_that_run(engine):
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
    register(engine, "scheduled__2026-12-06T02:00:00+00:00", "north_a.csv")
    register(engine, "scheduled__2026-12-06T02:00:00+00:00", "north_b.csv")
    why = night.explain_empty_night(engine, "manual__2026-12-07T09:00:00+00:00", ["clinic-north-csv"])
    assert "discovered 0 files" in why and "2 files by run scheduled__2026-12-06T02:00:00+00:00" in why


def test_a_night_with_nothing_in_incoming_says_so(engine):
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
    register(engine, "manual__2026-12-07T09:00:00+00:00", "own.csv")  # its own files do not count as taken
    why = night.explain_empty_night(engine, "manual__2026-12-07T09:00:00+00:00", ["clinic-north-csv",
                                                                                      "clinic-east-fhir"])
    assert why == "discovered 0 files: nothing was waiting in incoming/ of the sources (clinic-north-csv, clinic-east-fhir)"
