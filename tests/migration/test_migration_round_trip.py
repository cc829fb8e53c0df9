"""The runbook, step by step, on a database holding legacy rows: the catalog after every upgrade,
then every downgrade back to the baseline leaves the schema and the legacy rows exactly as they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from migration_helpers import (
    LINK_ROWS_SQL,
    PHI_SAMPLES,
    columns,
    constraints,
    indexes,
    revision,
    run_sql,
)

from include.core import alembic_driver, catalog, checksums, legacy_contract, settings

VC36 = "character varying(36)"
TS = "timestamp without time zone"

#: docs/contracts/data-model.md §3, as 20250527 creates it (user_id comes with 20250529).
PATIENTS_COLUMNS = {
    "id": (VC36, True, None),
    "account_id": (VC36, False, None),
    "clinician_id": (VC36, False, None),
    "external_id": ("character varying(255)", False, None),
    "email": ("character varying(255)", False, None),
    "first_name": ("character varying(100)", True, None),
    "last_name": ("character varying(100)", True, None),
    "phone": ("character varying(20)", False, None),
    "date_of_birth": ("date", False, None),
    "status": ("character varying(20)", True, "'pending'::character varying"),
    "notes": ("text", False, None),
    "created_at": (TS, True, "now()"),
    "updated_at": (TS, True, "now()"),
}


def assert_everything_valid(conn: sa.Connection) -> None:
    """No constraint left NOT VALID and no index left INVALID, anywhere in the schema."""
    assert [c.name for c in constraints(conn).values() if not c.validated] == []
    assert [i.name for i in indexes(conn).values() if not i.valid] == []


def assert_fk(conn: sa.Connection, name: str, table: str, definition: str) -> None:
    con = constraints(conn).get(name)
    assert con is not None, f"foreign key {name} missing"
    assert (con.table, con.type, con.definition, con.validated) == (table, "f", definition, True)


def test_runbook_upgrades_then_downgrades_back_to_the_identical_baseline(legacy_conn: sa.Connection) -> None:
    conn = legacy_conn
    assert revision(conn) == settings.REV_BASELINE
    baseline = catalog.snapshot(conn)
    legacy_rows = checksums.legacy_checksums(conn)
    conn.commit()
    assert legacy_rows["invites"].rows == 3 and legacy_rows["chat_messages"].rows == 3

    # 20250527: patients with the §3 columns, FKs and indexes.
    step = alembic_driver.upgrade(conn, settings.REV_CREATE_PATIENTS)
    assert (step.applied, step.before, step.after) == (True, settings.REV_BASELINE, settings.REV_CREATE_PATIENTS)
    assert columns(conn, "patients") == PATIENTS_COLUMNS
    assert_fk(conn, "patients_account_id_fkey", "patients",
              "FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE SET NULL")
    assert_fk(conn, "patients_clinician_id_fkey", "patients",
              "FOREIGN KEY (clinician_id) REFERENCES users(id) ON DELETE SET NULL")
    assert constraints(conn)["patients_pkey"].definition == "PRIMARY KEY (id)"
    idx = indexes(conn)
    assert {"patients_pkey", "ux_patients_account_external_id", "ux_patients_identity_key",
            "ix_patients_clinician_id"} <= set(idx)
    assert "UNIQUE" in idx["ux_patients_account_external_id"].definition
    assert "WHERE (external_id IS NOT NULL)" in idx["ux_patients_account_external_id"].definition
    assert_everything_valid(conn)
    assert checksums.legacy_checksums(conn) == legacy_rows

    # 20250528: nullable link columns on invites and chat_sessions, FKs validated, indexes valid.
    alembic_driver.upgrade(conn, settings.REV_UPDATE_INVITES)
    assert columns(conn, "invites")["patient_id"] == (VC36, False, None)
    assert columns(conn, "chat_sessions")["patient_id"] == (VC36, False, None)
    assert_fk(conn, "invites_patient_id_fkey", "invites",
              "FOREIGN KEY (patient_id) REFERENCES patients(id) ON DELETE RESTRICT")
    assert_fk(conn, "chat_sessions_patient_id_fkey", "chat_sessions",
              "FOREIGN KEY (patient_id) REFERENCES patients(id) ON DELETE RESTRICT")
    idx = indexes(conn)
    assert idx["ix_invites_patient_id"].table == "invites" and idx["ix_invites_patient_id"].valid
    assert idx["ix_chat_sessions_patient_id"].table == "chat_sessions" and idx["ix_chat_sessions_patient_id"].valid
    assert_everything_valid(conn)
    assert legacy_contract.differences(conn) == []  # the added link columns are allowed
    assert checksums.legacy_checksums(conn) == legacy_rows

    # 20250529: patients.user_id, FK users ON DELETE SET NULL, UNIQUE constraint on a valid index.
    alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    assert columns(conn, "patients")["user_id"] == (VC36, False, None)
    assert_fk(conn, "patients_user_id_fkey", "patients",
              "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL")
    uq = constraints(conn)["uq_patients_user_id"]
    assert (uq.type, uq.definition, uq.validated) == ("u", "UNIQUE (user_id)", True)
    backing = conn.execute(sa.text(
        "SELECT i.relname FROM pg_constraint k JOIN pg_class i ON i.oid = k.conindid "
        "WHERE k.conname = 'uq_patients_user_id'")).scalar()
    assert backing == "uq_patients_user_id" and indexes(conn)["uq_patients_user_id"].valid
    assert_everything_valid(conn)

    # The backfill's part, played by hand: patients, every invite and chat session linked.
    run_sql(conn, [*LINK_ROWS_SQL, "UPDATE patients SET user_id = 'u-pat-1' WHERE id = 'pat-1'"])
    with pytest.raises(sa.exc.IntegrityError):  # the unique constraint is real
        conn.execute(sa.text("UPDATE patients SET user_id = 'u-pat-1' WHERE id = 'pat-2'"))
    conn.rollback()
    assert checksums.legacy_checksums(conn) == legacy_rows  # link columns are not legacy columns

    # 20250530: invites.patient_id NOT NULL, the temporary check constraint gone.
    alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    assert revision(conn) == settings.REV_FINALIZE_INVITES
    assert columns(conn, "invites")["patient_id"] == (VC36, True, None)
    assert "ck_invites_patient_id_not_null" not in constraints(conn)
    assert_everything_valid(conn)
    assert checksums.legacy_checksums(conn) == legacy_rows

    # Downgrade step by step.
    alembic_driver.downgrade(conn, settings.REV_UPDATE_PATIENTS)
    assert columns(conn, "invites")["patient_id"] == (VC36, False, None)
    alembic_driver.downgrade(conn, settings.REV_UPDATE_INVITES)
    assert "user_id" not in columns(conn, "patients")
    assert {"uq_patients_user_id", "patients_user_id_fkey"}.isdisjoint(constraints(conn))
    assert "uq_patients_user_id" not in indexes(conn)
    alembic_driver.downgrade(conn, settings.REV_CREATE_PATIENTS)
    assert "patient_id" not in columns(conn, "invites") and "patient_id" not in columns(conn, "chat_sessions")
    assert {"ix_invites_patient_id", "ix_chat_sessions_patient_id"}.isdisjoint(indexes(conn))

    # 20250527 -> baseline refuses to drop a non-empty patients table without consent ...
    with pytest.raises(RuntimeError, match=r"refusing to drop table patients with 2 rows") as refused:
        alembic_driver.downgrade(conn, settings.REV_BASELINE)
    assert "patients_archived" in str(refused.value)
    assert not any(s in str(refused.value) for s in PHI_SAMPLES)
    assert revision(conn) == settings.REV_CREATE_PATIENTS
    assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar() == 2
    conn.commit()

    # ... and drops it with consent.
    step = alembic_driver.downgrade(conn, settings.REV_BASELINE, patients_archived="yes")
    assert (step.applied, step.after) == (True, settings.REV_BASELINE)

    after = catalog.snapshot(conn)
    assert baseline.diff(after) == []
    assert after == baseline
    assert checksums.compare(legacy_rows, checksums.legacy_checksums(conn)) == []
    assert legacy_contract.differences(conn) == []


def test_an_empty_patients_table_downgrades_without_consent(legacy_conn: sa.Connection) -> None:
    baseline = catalog.snapshot(legacy_conn)
    legacy_conn.commit()
    alembic_driver.upgrade(legacy_conn, settings.REV_CREATE_PATIENTS)
    alembic_driver.downgrade(legacy_conn, settings.REV_BASELINE)
    assert catalog.snapshot(legacy_conn) == baseline


def test_the_driver_skips_steps_already_applied_or_already_undone(legacy_conn: sa.Connection) -> None:
    alembic_driver.upgrade(legacy_conn, settings.REV_UPDATE_INVITES)
    again = alembic_driver.upgrade(legacy_conn, settings.REV_CREATE_PATIENTS)
    assert (again.applied, again.before, again.after) == (False, settings.REV_UPDATE_INVITES,
                                                          settings.REV_UPDATE_INVITES)
    alembic_driver.downgrade(legacy_conn, settings.REV_CREATE_PATIENTS)
    below = alembic_driver.downgrade(legacy_conn, settings.REV_UPDATE_INVITES)
    assert below.applied is False and revision(legacy_conn) == settings.REV_CREATE_PATIENTS


def test_the_legacy_schema_is_only_dropped_with_explicit_consent(legacy_conn: sa.Connection) -> None:
    with pytest.raises(RuntimeError, match="drop_legacy_schema=yes"):
        alembic_driver.downgrade(legacy_conn, "base")
    assert revision(legacy_conn) == settings.REV_BASELINE
    assert legacy_conn.execute(sa.text("SELECT count(*) FROM invites")).scalar() == 3
    legacy_conn.commit()
    alembic_driver.downgrade(legacy_conn, "base", drop_legacy_schema="yes")
    assert revision(legacy_conn) is None
    assert catalog.table_names(legacy_conn) == []


def test_an_unknown_revision_in_the_database_is_refused(legacy_conn: sa.Connection) -> None:
    run_sql(legacy_conn, ["UPDATE alembic_version SET version_num = '20990101_someone_elses'"])
    with pytest.raises(alembic_driver.UnknownRevision, match="20990101_someone_elses"):
        alembic_driver.upgrade(legacy_conn, settings.REV_CREATE_PATIENTS)
    legacy_conn.rollback()
    assert "patients" not in catalog.table_names(legacy_conn)
