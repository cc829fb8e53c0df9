"""Safe to press at 2 a.m.: partial rollbacks, killed runs, a busy lease, a missing confirmation, dry runs."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, lease, settings
from include.core.errors import ConfirmationMissing
from include.core.locks import PipelineBusy
from include.rollback import archive, downgrade, restore, steps
from include.rollback import report as rollback_report
from include.rollback.errors import ArchiveIncomplete, DowngradeOutOfOrder
from tests.rollback import helpers as h

PARTIAL_TARGETS = [settings.REV_UPDATE_PATIENTS, settings.REV_UPDATE_INVITES, settings.REV_CREATE_PATIENTS]


def _archive_rows(conn: sa.Connection) -> int:
    n = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.archived_patients")).scalar()
    conn.commit()
    return int(n)


def _migrate_forward_with_restore(conn: sa.Connection, run_id: str) -> restore.RestoreResult:
    """What patient_first_migration does: schema to 29, restore, backfill, finalize."""
    backfill = pytest.importorskip("include.backfill", reason="the backfill package is not available")
    h.forward(conn)
    result = restore.restore_archived_patients(conn, run_id)
    assert backfill.run_all(conn, backfill.BackfillOptions(run_id=run_id)).complete
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    return result


@pytest.mark.parametrize("target", PARTIAL_TARGETS)
def test_partial_rollback_reaches_the_target_shape_and_migrating_forward_restores_every_link(conn, target):
    h.build_migrated(conn)
    before_patients, before_links = h.patients(conn), h.links(conn)

    out = h.run_rollback(f"rb-{target[:8]}", target)

    assert h.revision(conn) == target
    assert all(g["passed"] for g in out["gates"])
    assert set(h.patients(conn)) == set(before_patients)  # the table stays at every partial target
    kept = h.links(conn)
    assert kept["user"] == (before_links["user"] if target == settings.REV_UPDATE_PATIENTS else {})
    assert kept["invite"] == (before_links["invite"] if target != settings.REV_CREATE_PATIENTS else {})

    _migrate_forward_with_restore(conn, f"migration-after-{target[:8]}")
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES
    assert set(h.patients(conn)) == set(before_patients)
    assert h.links(conn) == before_links
    assert restore.pending_archive(conn) is None


@pytest.mark.parametrize("killed_after", ["archive", "verify_archive", "export", 1, 2, 3, 4])
def test_a_rollback_killed_part_way_converges_when_rerun(conn, killed_after):
    h.build_migrated(conn)
    if isinstance(killed_after, int):
        h.run_rollback("rb-crash", settings.REV_BASELINE, downgrade_steps=killed_after)
    else:
        h.run_rollback("rb-crash", settings.REV_BASELINE, stop_after=killed_after)

    out = h.run_rollback("rb-crash", settings.REV_BASELINE)  # the rerun: same run id, from the top

    assert h.revision(conn) == settings.REV_BASELINE and h.patients(conn) == {}
    assert all(g["passed"] for g in out["gates"])
    assert archive.archived_counts(conn, "rb-crash") == {"patients": 4, "invite": 3, "chat_session": 3, "user": 3}
    h.forward(conn)
    result = restore.restore_archived_patients(conn, "migration-1")
    assert sorted(result.restored_patient_ids) == ["imp-1", "imp-2"]
    assert h.links(conn)["user"] == {"u-imp-1": "imp-1"} and h.links(conn)["chat_session"] == {"cs-3": "imp-1"}


def test_a_new_rollback_run_after_a_crashed_one_loses_nothing_the_first_archived(conn):
    h.build_migrated(conn)
    h.run_rollback("rb-a", settings.REV_BASELINE, downgrade_steps=2)  # 30 and 29 gone: patients.user_id dropped
    h.release_lease("rb-a")  # the crashed run's release task ran (trigger rule all_done)

    h.run_rollback("rb-b", settings.REV_BASELINE)
    assert archive.archived_counts(conn, "rb-b")["user"] == 0  # rb-b never saw patients.user_id
    assert restore.pending_archives(conn) == ["rb-b", "rb-a"]

    h.forward(conn)
    result = restore.restore_archived_patients(conn, "migration-1")
    assert result.archives == ["rb-b", "rb-a"]
    assert sorted(result.restored_patient_ids) == ["imp-1", "imp-2"]
    assert h.links(conn)["user"] == {"u-imp-1": "imp-1"}  # from the older archive
    assert restore.pending_archive(conn) is None


def test_a_rollback_while_another_run_holds_the_lease_fails_naming_it_and_changes_nothing(conn):
    h.build_migrated(conn)
    lease.acquire(conn, "clinic_patient_import", "import-run-7")
    before = h.patients(conn)

    started = time.monotonic()
    with pytest.raises(PipelineBusy) as failure:
        h.take_lease("rb-busy", wait_s=1)
    assert time.monotonic() - started >= 1  # it waited
    message = str(failure.value)
    assert "clinic_patient_import" in message and "import-run-7" in message and "trigger this one again" in message

    assert h.revision(conn) == settings.REV_FINALIZE_INVITES and h.patients(conn) == before
    assert _archive_rows(conn) == 0
    assert lease.holder(conn).run_id == "import-run-7"
    conn.commit()


def test_a_rollback_waits_for_the_lease_and_runs_once_the_other_run_releases_it(conn):
    h.build_migrated(conn)
    lease.acquire(conn, "patient_first_migration", "migration-run-9")
    releaser = threading.Timer(1.0, lambda: h.release_lease("migration-run-9"))
    releaser.start()
    try:
        h.take_lease("rb-wait", wait_s=30)
    finally:
        releaser.join()
    assert lease.holder(conn).run_id == "rb-wait"
    conn.commit()


@pytest.mark.parametrize("confirm", [None, "", "rollback", "yes", " ROLLBACK", "ROLLBACK please"])
def test_a_real_rollback_without_the_exact_confirmation_fails_at_once_and_changes_nothing(conn, confirm):
    h.build_migrated(conn)
    before = h.patients(conn)
    params = {"target_revision": settings.REV_BASELINE, "dry_run": False, "confirm": confirm}
    with pytest.raises(ConfirmationMissing) as failure:
        steps.validate_confirm(params)
    assert "confirm = ROLLBACK" in str(failure.value) and "nothing was changed" in str(failure.value)
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES and h.patients(conn) == before
    # a dry run needs no confirmation
    assert steps.validate_confirm({**params, "dry_run": True})["dry_run"] is True


def test_a_dry_run_reports_what_would_be_archived_and_dropped_and_changes_nothing(conn):
    h.build_migrated(conn)
    before_patients, before_links = h.patients(conn), h.links(conn)
    params = {"target_revision": settings.REV_BASELINE, "dry_run": True, "confirm": None}
    h.take_lease("rb-dry")
    plan = steps.preflight("rb-dry", params)
    h.release_lease("rb-dry")
    assert plan["revisions_to_downgrade"] == list(reversed(settings.UPGRADE_ORDER))
    assert plan["would_archive"] == {"patients": 4, "invite": 3, "chat_session": 3, "user": 3}
    assert plan["would_drop"][settings.REV_CREATE_PATIENTS] == {"patients rows": 4}
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES
    assert h.patients(conn) == before_patients and h.links(conn) == before_links
    assert _archive_rows(conn) == 0
    assert conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.rollback_archives")).scalar() == 0


def test_no_downgrade_drops_anything_before_the_archive_of_this_run_is_verified(conn):
    h.build_migrated(conn)
    h.run_rollback("rb-unverified", settings.REV_BASELINE, stop_after="archive")
    with pytest.raises(ArchiveIncomplete):
        steps.downgrade_step("rb-unverified", settings.REV_FINALIZE_INVITES, lock_timeout_ms=2000)
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES
    # and the steps run in order only
    h.run_rollback("rb-unverified", settings.REV_BASELINE, stop_after="export")
    with pytest.raises(DowngradeOutOfOrder):
        downgrade.downgrade_one(conn, "rb-unverified", settings.REV_CREATE_PATIENTS)
    assert h.revision(conn) == settings.REV_FINALIZE_INVITES


def test_a_target_above_the_current_revision_is_refused_before_anything_changes(conn):
    h.build_migrated(conn)
    h.run_rollback("rb-first", settings.REV_UPDATE_INVITES)
    h.take_lease("rb-up")
    with pytest.raises(DowngradeOutOfOrder):
        steps.preflight("rb-up", {"target_revision": settings.REV_UPDATE_PATIENTS, "dry_run": False,
                                  "confirm": "ROLLBACK"})
    assert h.revision(conn) == settings.REV_UPDATE_INVITES


def test_the_dry_run_report_lists_counts_and_revisions_and_says_nothing_changed():
    plan = {"current_revision": settings.REV_FINALIZE_INVITES, "revisions_to_downgrade": [settings.REV_FINALIZE_INVITES],
            "would_archive": {"patients": 4, "invite": 3, "chat_session": 3, "user": 3},
            "would_drop": {settings.REV_FINALIZE_INVITES: {"invites.patient_id NOT NULL": "dropped (no data)"}}}
    params = {"target_revision": settings.REV_UPDATE_PATIENTS, "dry_run": True, "confirm": None}
    sections = rollback_report.build_report_sections(params, {"preflight": plan}, [])
    assert sections["status"] == "dry run"
    assert sections["summary"]["mode"].startswith("DRY RUN")
    assert sections["summary"]["would_archive_patients"] == 4
    assert sections["would_drop"] == plan["would_drop"]
