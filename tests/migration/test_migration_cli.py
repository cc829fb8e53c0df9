"""The alembic command line works exactly as the seed runbook says, and the history is one line."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa
from migration_helpers import LINK_ROWS_SQL, revision, run_sql

from include.core import alembic_driver, catalog, checksums, db, settings


def alembic(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENASCOPE_", "AIRFLOW_"))}
    env[db.ENV_CONN] = uri
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=settings.PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def ok(uri: str, *args: str) -> str:
    proc = alembic(uri, *args)
    assert proc.returncode == 0, f"alembic {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_the_runbook_commands_upgrade_and_downgrade_step_by_step(fresh_db: str, legacy_db: sa.Engine) -> None:
    with legacy_db.connect() as conn:
        baseline = catalog.snapshot(conn)
        legacy_rows = checksums.legacy_checksums(conn)

    ok(fresh_db, "upgrade", settings.REV_CREATE_PATIENTS)
    assert ok(fresh_db, "current").split() == [settings.REV_CREATE_PATIENTS]
    ok(fresh_db, "upgrade", settings.REV_UPDATE_INVITES)
    ok(fresh_db, "upgrade", settings.REV_UPDATE_PATIENTS)
    with legacy_db.connect() as conn:
        assert revision(conn) == settings.REV_UPDATE_PATIENTS
        run_sql(conn, LINK_ROWS_SQL)  # the backfill's part
    ok(fresh_db, "upgrade", settings.REV_FINALIZE_INVITES)
    assert ok(fresh_db, "current").split() == [settings.REV_FINALIZE_INVITES, "(head)"]

    ok(fresh_db, "downgrade", settings.REV_UPDATE_PATIENTS)
    ok(fresh_db, "downgrade", settings.REV_UPDATE_INVITES)
    ok(fresh_db, "downgrade", settings.REV_CREATE_PATIENTS)
    refused = alembic(fresh_db, "downgrade", settings.REV_BASELINE)
    assert refused.returncode != 0
    assert "refusing to drop table patients with 2 rows" in refused.stderr
    assert "-x patients_archived=yes" in refused.stderr
    with legacy_db.connect() as conn:
        assert revision(conn) == settings.REV_CREATE_PATIENTS
    ok(fresh_db, "-x", "patients_archived=yes", "downgrade", settings.REV_BASELINE)

    with legacy_db.connect() as conn:
        assert revision(conn) == settings.REV_BASELINE
        assert catalog.snapshot(conn) == baseline
        assert checksums.legacy_checksums(conn) == legacy_rows


def test_one_linear_history_with_one_head() -> None:
    script = alembic_driver.script_directory()
    assert script.get_heads() == [settings.REV_FINALIZE_INVITES]
    assert script.get_bases() == [settings.REV_BASELINE]
    walked = [rev.revision for rev in script.walk_revisions()]  # head first
    assert walked == list(reversed(settings.ALL_REVISIONS))
    for rev in script.walk_revisions():
        assert not rev.is_merge_point and not rev.is_branch_point
        index = settings.ALL_REVISIONS.index(rev.revision)
        assert rev.down_revision == (settings.ALL_REVISIONS[index - 1] if index else None)
