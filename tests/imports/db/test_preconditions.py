"""Imports refuse to run on a database that is not ready, with a message that says what to do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, settings
from include.imports import errors as import_errors
from include.imports import file_import
from tests.imports.db.conftest import TODAY


def test_imports_need_revision_update_patients(engine, csv_source, drop_csv):
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_CREATE_PATIENTS)
    with pytest.raises(import_errors.ImportPreconditionFailed, match="20250529_update_patients"):
        file_import.import_file(engine, csv_source, drop_csv("a.csv", ["a@example.com,A,B,,M1,"]), run_id="r",
                             today=TODAY)


def test_a_missing_account_fails_clearly_and_imports_nothing(import_db, csv_source, drop_csv):
    source = csv_source.with_overrides(account_id="acct-does-not-exist")
    path = drop_csv("a.csv", ["a@example.com,A,B,,M1,"])
    with pytest.raises(import_errors.ImportPreconditionFailed, match="acct-does-not-exist"):
        file_import.import_file(import_db, source, path, run_id="r", today=TODAY)
    with import_db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.import_file")).scalar() == 0
