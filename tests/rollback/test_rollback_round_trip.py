"""Rollback to the baseline and back: nothing is lost, imported patients come back with their ids."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, legacy_contract, run_records, settings
from include.rollback import archive, downgrade, restore, steps
from tests.rollback import helpers as h


def test_full_rollback_archives_every_patient_and_link_then_restore_brings_imported_ones_back(conn, caplog):
    caplog.set_level(logging.INFO)
    h.build_migrated(conn)
    before_patients, before_links = h.patients(conn), h.links(conn)
    assert len(before_patients) == 4 and len(before_links["invite"]) == 3

    out = h.run_rollback("rb-1", settings.REV_BASELINE)

    # the schema is the legacy baseline, exactly
    assert h.revision(conn) == settings.REV_BASELINE
    assert legacy_contract.differences(conn) == []
    assert h.patients(conn) == {}
    assert not any(archive.live_sources(conn).values())
    # the legacy rows are the ones recorded before the migration
    original = run_records.original_checksums(conn)
    assert original is not None and original[0] == h.ORIGINAL_RUN
    assert run_records.verify_checksums_unchanged(conn, original[1]) == []
    # every row and link is in the archive, verified
    assert archive.archived_counts(conn, "rb-1") == {"patients": 4, "invite": 3, "chat_session": 3, "user": 3}
    assert out["verify_archive"]["passed"] and all(g["passed"] for g in out["gates"])
    assert restore.pending_archive(conn) == "rb-1"
    # the export is owner-only (PHI)
    export = Path(out["export"]["path"])
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert stat.S_IMODE(export.parent.stat().st_mode) == 0o700
    assert sum(1 for _ in export.open()) == 4 + 9

    # migrate forward again: schema, then the restore (before any backfill)
    h.forward(conn)
    result = restore.restore_archived_patients(conn, "migration-run-1")
    assert result.archives == ["rb-1"]
    assert sorted(result.restored_patient_ids) == ["imp-1", "imp-2"]
    assert result.left_to_backfill == 2  # pat-1, pat-2: invite-derived, the backfill recreates them
    assert result.links_restored == {"user": 1, "invite": 0, "chat_session": 1}
    after = h.patients(conn)
    assert after["imp-1"] == before_patients["imp-1"]  # every column, original id, timestamps to the microsecond
    assert after["imp-2"] == before_patients["imp-2"]
    assert h.links(conn)["chat_session"] == {"cs-3": "imp-1"}
    assert run_records.verify_checksums_unchanged(conn, original[1]) == []
    assert restore.pending_archive(conn) is None

    # idempotent: a second restore finds nothing pending and changes nothing
    again = restore.restore_archived_patients(conn, "migration-run-2")
    assert again.archives == [] and h.patients(conn) == after

    logs = caplog.text
    assert "rb-1" in logs
    assert [s for s in h.PHI_SAMPLES if s in logs] == []


def test_round_trip_with_the_real_backfill_gives_every_patient_its_id_and_every_link_back(conn):
    """migrate (real backfill) -> import -> rollback to baseline -> upgrade -> restore -> backfill -> finalize."""
    backfill = pytest.importorskip("include.backfill", reason="the backfill package is not available")
    BackfillOptions, run_all = backfill.BackfillOptions, backfill.run_all

    alembic_driver.upgrade(conn, settings.REV_BASELINE)
    h.run_sql(conn, h.LEGACY_ROWS)
    run_records.record_checksums(conn, h.ORIGINAL_RUN, "before")
    h.forward(conn)
    first = run_all(conn, BackfillOptions(run_id="migration-run-0"))
    assert first.complete
    # an import after the switch: a patient no invite describes
    conn.execute(sa.text(
        "INSERT INTO patients (id, account_id, clinician_id, external_id, first_name, last_name, status) "
        "VALUES ('imp-2', 'acct-2', 'clinician-002', 'MRN-0002', 'Eli', 'Nolink', 'pending')"))
    conn.commit()
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    before_patients, before_links = h.patients(conn), h.links(conn)
    assert "imp-2" in before_patients and len(before_links["invite"]) == 3

    h.run_rollback("rb-real", settings.REV_BASELINE)
    assert h.patients(conn) == {}

    h.forward(conn)
    restored = restore.restore_archived_patients(conn, "migration-run-1")
    assert "imp-2" in restored.restored_patient_ids
    second = run_all(conn, BackfillOptions(run_id="migration-run-1"))
    assert second.complete
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)

    after_patients = h.patients(conn)
    assert set(after_patients) == set(before_patients)  # same ids: nothing duplicated, nothing lost
    assert after_patients["imp-2"] == before_patients["imp-2"]
    assert h.links(conn) == before_links
    assert run_records.verify_checksums_unchanged(conn, run_records.original_checksums(conn)[1]) == []


def test_a_patient_written_after_the_archive_step_is_archived_before_the_table_is_dropped(conn):
    h.build_migrated(conn)
    h.run_rollback("rb-late", settings.REV_BASELINE, stop_after="export")
    # the application writes one more patient between the archive and the drop
    conn.execute(sa.text("INSERT INTO patients (id, account_id, first_name, last_name, status) "
                         "VALUES ('late-1', 'acct-1', 'Late', 'Writer', 'pending')"))
    conn.commit()
    for revision in downgrade.DOWNGRADE_TASKS.values():  # each step re-syncs what it drops
        steps.downgrade_step("rb-late", revision, lock_timeout_ms=2000)
    assert steps.verify_archive_counts("rb-late")["passed"]
    assert h.patients(conn) == {}
    assert archive.archived_counts(conn, "rb-late")["patients"] == 5
    h.forward(conn)
    result = restore.restore_archived_patients(conn, "migration-run-1")
    assert "late-1" in result.restored_patient_ids
