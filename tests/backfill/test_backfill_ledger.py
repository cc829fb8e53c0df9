"""The batch ledgers (one row per batch, ids as arrays): what the per-row views show, what undo_run
removes and keeps, and the conversion of an earlier version's per-row ledger tables."""

from __future__ import annotations

import sqlalchemy as sa

from include.backfill import undo_run
from include.core import pipeline_schema
from tests.backfill.legacy_rows import Legacy, at, backfill, invite_links, patients
from tests.backfill.test_backfill_safety import ledger, small_clinic


def scalar(conn: sa.Connection, sql: str, **params) -> object:
    value = conn.execute(sa.text(sql), params).scalar_one()
    conn.commit()
    return value


def test_a_batch_writes_one_ledger_row_whatever_its_size(conn, legacy: Legacy):
    for n in range(30):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith", created_at=at(n))
    backfill(conn, batch_size=100)
    # one batch: 30 patients created, 30 invites linked -> one row in each batch table per entity
    assert scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_patient_ledger_batches") == 1
    assert scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_link_ledger_batches") == 1
    assert scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_link_ledger WHERE run_id = 'run-1'") == 30
    assert scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_patient_ledger WHERE run_id = 'run-1'") == 30


def test_smaller_batches_record_the_same_rows(conn, legacy: Legacy):
    for n in range(25):
        legacy.invite(f"i{n:02d}", f"p{n}@x.test", f"P{n}", "Smith", created_at=at(n))
    backfill(conn, batch_size=7)
    assert scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_link_ledger_batches "
                        "WHERE entity = 'invite'") == 4
    assert {i for _, i, _, _ in ledger(conn)} == {f"i{n:02d}" for n in range(25)}
    assert {p for _, _, p, _ in ledger(conn)} == {p["id"] for p in patients(conn)}


def test_undo_removes_exactly_the_run_and_keeps_a_patient_the_application_now_uses(conn, legacy: Legacy):
    small_clinic(legacy)
    legacy.invite("i99", "zoe@x.test", "Zoe", "King", created_at=at(9))
    backfill(conn)
    zoe = invite_links(conn)["i99"]
    # after the run the application links a new invite to Zoe's patient: undo must keep that patient
    legacy.invite("i100", "zoe@x.test", "Zoe", "King", created_at=at(10))
    conn.execute(sa.text("UPDATE invites SET patient_id = :p WHERE id = 'i100'"), {"p": zoe})
    conn.commit()
    created = scalar(conn, "SELECT count(*) FROM patient_pipeline.backfill_patient_ledger WHERE run_id = 'run-1'")

    result = undo_run(conn, "run-1")

    assert result.patients_kept_referenced == 1 and result.patients_deleted == created - 1
    assert [p["id"] for p in patients(conn)] == [zoe]
    assert invite_links(conn) == {i: (zoe if i == "i100" else None) for i in invite_links(conn)}
    assert scalar(conn, "SELECT count(*) FROM chat_sessions WHERE patient_id IS NOT NULL") == 0
    assert ledger(conn) == []
    # the kept patient stays in the run's patient ledger (a later undo may still delete it)
    assert list(conn.execute(sa.text(
        "SELECT run_id, patient_id FROM patient_pipeline.backfill_patient_ledger")).all()) == [("run-1", zoe)]
    conn.commit()
    again = undo_run(conn, "run-1")
    assert (again.invites_unlinked, again.patients_deleted, again.patients_kept_referenced) == (0, 0, 1)


def test_an_earlier_versions_per_row_ledgers_are_converted_without_loss(conn):
    conn.exec_driver_sql("DROP VIEW patient_pipeline.backfill_link_ledger")
    conn.exec_driver_sql("DROP VIEW patient_pipeline.backfill_patient_ledger")
    conn.exec_driver_sql("""
        CREATE TABLE patient_pipeline.backfill_patient_ledger (
            run_id varchar(250) NOT NULL, patient_id varchar(36) NOT NULL,
            created_by_run boolean NOT NULL DEFAULT true,
            recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            PRIMARY KEY (run_id, patient_id));
        CREATE TABLE patient_pipeline.backfill_link_ledger (
            run_id varchar(250) NOT NULL, entity varchar(16) NOT NULL, entity_id varchar(36) NOT NULL,
            patient_id varchar(36) NOT NULL, patient_created_by_run boolean NOT NULL,
            recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            PRIMARY KEY (run_id, entity, entity_id));
        INSERT INTO patient_pipeline.backfill_patient_ledger (run_id, patient_id) VALUES ('old', 'p1'), ('old', 'p2');
        INSERT INTO patient_pipeline.backfill_link_ledger VALUES
            ('old', 'invite', 'i1', 'p1', true), ('old', 'invite', 'i2', 'p1', true),
            ('old', 'invite', 'i3', 'p9', false), ('old', 'chat_session', 'c1', 'p2', true);
    """)
    conn.commit()

    pipeline_schema.ensure(conn)
    pipeline_schema.ensure(conn)  # idempotent

    kinds = dict(conn.execute(sa.text(
        "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'patient_pipeline'::regnamespace "
        "AND relname IN ('backfill_link_ledger', 'backfill_patient_ledger')")).all())
    conn.commit()
    assert kinds == {"backfill_link_ledger": "v", "backfill_patient_ledger": "v"}
    assert ledger(conn) == [("chat_session", "c1", "p2", True), ("invite", "i1", "p1", True),
                            ("invite", "i2", "p1", True), ("invite", "i3", "p9", False)]
    assert sorted(conn.execute(sa.text(
        "SELECT run_id, patient_id FROM patient_pipeline.backfill_patient_ledger")).all()) == [("old", "p1"),
                                                                                                 ("old", "p2")]
