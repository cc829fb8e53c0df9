"""Operator commands: verifying and stamping an existing (unversioned) production database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include import cli
from include.core import alembic_driver, settings


@pytest.fixture
def unversioned_legacy_db(legacy_engine, app_env):
    """A database with the legacy tables but no alembic_version: what production looks like."""
    with legacy_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    return legacy_engine


def test_stamp_baseline_verifies_the_schema_then_stamps(unversioned_legacy_db, capsys):
    assert cli.main(["stamp-baseline"]) == 0
    assert "legacy schema matches" in capsys.readouterr().out
    with unversioned_legacy_db.connect() as conn:
        assert alembic_driver.current_revision(conn) == settings.REV_BASELINE


def test_stamp_baseline_refuses_a_schema_that_differs_and_lists_why(unversioned_legacy_db, capsys):
    with unversioned_legacy_db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE invites ALTER COLUMN phone TYPE varchar(64)"))
        conn.execute(sa.text("ALTER TABLE users ADD COLUMN nickname text"))
    assert cli.main(["stamp-baseline"]) == 1
    out = capsys.readouterr().out
    assert "invites.phone: type character varying(64), expected character varying(32)" in out
    assert "unexpected column users.nickname" in out
    with unversioned_legacy_db.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar() is None


def test_db_info_names_the_database_and_revision(legacy_engine, app_env, capsys):
    assert cli.main(["db-info"]) == 0
    out = capsys.readouterr().out
    assert "AIRFLOW_CONN_GENASCOPE_DB" in out and settings.REV_BASELINE in out and "invites" in out
