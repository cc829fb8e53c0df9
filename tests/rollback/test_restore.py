"""The restore after a rollback: original ids, safe relinking, conflicts reported, never twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, settings
from include.rollback import restore, steps
from include.rollback.errors import RestoreNotPossible
from tests.rollback import helpers as h


@pytest.fixture
def rolled_back(conn: sa.Connection) -> sa.Connection:
    h.build_migrated(conn)
    h.run_rollback("rb-1", settings.REV_BASELINE)
    return conn


def test_restore_refuses_before_patients_user_id_exists(rolled_back):
    conn = rolled_back
    alembic_driver.upgrade(conn, settings.REV_UPDATE_INVITES)
    with pytest.raises(RestoreNotPossible):
        restore.restore_archived_patients(conn, "migration-1")
    assert restore.pending_archive(conn) == "rb-1"


def test_a_live_patient_holding_the_same_external_id_is_a_reported_conflict_not_a_duplicate(rolled_back):
    conn = rolled_back
    h.forward(conn)
    conn.execute(sa.text("INSERT INTO patients (id, account_id, external_id, first_name, last_name) "
                         "VALUES ('other-1', 'acct-2', 'MRN-0002', 'Someone', 'Else')"))
    conn.commit()
    result = restore.restore_archived_patients(conn, "migration-1")
    assert result.restored_patient_ids == ["imp-1"]
    assert result.conflict_patient_ids == ["imp-2"]
    assert "imp-2" not in h.patients(conn)


def test_links_go_back_only_to_rows_that_still_exist_and_are_free(rolled_back):
    conn = rolled_back
    h.run_sql(conn, ("DELETE FROM chat_messages WHERE session_id = 'cs-3'", "DELETE FROM chat_sessions WHERE id = 'cs-3'",
                     "DELETE FROM accounts WHERE id = 'acct-2'"))
    h.forward(conn)
    conn.execute(sa.text("INSERT INTO patients (id, first_name, last_name, user_id) "
                         "VALUES ('app-9', 'Taken', 'Meanwhile', 'u-imp-1')"))
    conn.commit()
    result = restore.restore_archived_patients(conn, "migration-1")
    assert sorted(result.restored_patient_ids) == ["imp-1", "imp-2"]
    assert result.links_restored == {"user": 0, "invite": 0, "chat_session": 0}
    rows = h.patients(conn)
    assert rows["imp-1"]["user_id"] is None  # u-imp-1 belongs to app-9 now
    assert rows["imp-2"]["account_id"] is None  # its account is gone (ON DELETE SET NULL semantics)


def test_a_dry_run_previews_and_a_discarded_archive_is_kept_but_not_restored(rolled_back):
    conn = rolled_back
    h.take_lease("migration-dry")
    conn.commit()
    preview = steps.restore_for_migration("migration-dry", dry_run=True, dag_id="patient_first_rollback")
    assert preview["pending_archives"] == ["rb-1"] and preview["would_restore"] == 2
    assert h.patients(conn) == {}

    assert restore.discard_archive(conn, "rb-1") is True
    assert restore.pending_archive(conn) is None
    h.forward(conn)
    assert restore.restore_archived_patients(conn, "migration-1").archives == []
    kept = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.archived_patients")).scalar()
    assert kept == 4
