"""The walk order of the batched phases (issue 25): link_invites walks the invites heap in block order
(walk_key captured at plan time), its UPDATE still matches by primary key, link_users runs no batch for
users create_patients already linked, and the plan read in parallel heap slices equals the serial plan."""

from __future__ import annotations

import logging
from dataclasses import replace

import sqlalchemy as sa

from include.backfill import BackfillOptions, phases
from include.backfill.planner import plan
from tests.backfill.legacy_rows import Legacy, backfill

PLAN_TABLES = {"backfill_plan_invites": "invite_id", "backfill_plan_users": "user_id",
               "backfill_plan_persons": "person_key", "backfill_plan_chats": "chat_id"}


def bulk_invites(conn: sa.Connection, n: int, prefix: str = "w") -> None:
    """``n`` invites with random-looking UUID ids (id order is not heap order), one person each."""
    conn.execute(sa.text(
        "INSERT INTO invites (id, email, first_name, last_name, invite_token, clinician_id, status, created_at) "
        "SELECT md5(:p || g)::uuid::text, :p || g || '@walk.test', 'First' || g, 'Last', 'tok-' || :p || g, "
        "       CASE WHEN g % 2 = 0 THEN 'clin-a' ELSE 'clin-b' END, 'pending', "
        "       TIMESTAMP '2024-01-01' + g * interval '1 minute' "
        "FROM generate_series(1, :n) g"), {"p": prefix, "n": n})
    conn.commit()


def bulk_users(conn: sa.Connection, n: int, prefix: str = "u") -> None:
    """``n`` role-patient users without an invite (each gets a patient of its own, rule 5)."""
    conn.execute(sa.text(
        "INSERT INTO users (id, name, email, role, account_id, created_at) "
        "SELECT md5(:p || g)::uuid::text, 'Pat' || g || ' Smith', :p || g || '@walk.test', 'patient', 'acct-a', "
        "       TIMESTAMP '2024-01-01' + g * interval '1 minute' "
        "FROM generate_series(1, :n) g"), {"p": prefix, "n": n})
    conn.commit()


def heap_blocks(conn: sa.Connection, table: str) -> dict[str, int]:
    rows = conn.execute(sa.text(f"SELECT id, (ctid::text::point)[0]::int FROM {table}")).all()
    conn.commit()
    return {r[0]: r[1] for r in rows}


def ledger_batches(conn: sa.Connection, entity: str) -> list[list[str]]:
    rows = conn.execute(sa.text(
        "SELECT entity_ids FROM patient_pipeline.backfill_link_ledger_batches WHERE run_id = 'run-1' "
        "AND entity = :e ORDER BY batch_id"), {"e": entity}).scalars().all()
    conn.commit()
    return [list(r) for r in rows]


def test_link_invites_updates_the_invites_in_heap_block_order(conn, legacy: Legacy):
    bulk_invites(conn, 600)
    blocks = heap_blocks(conn, "invites")
    assert len(set(blocks.values())) >= 4  # the invites span several heap pages

    backfill(conn, batch_size=50, lanes=1)

    batches = ledger_batches(conn, "invite")
    assert sorted(i for b in batches for i in b) == sorted(blocks)
    spans = [(min(blocks[i] for i in b), max(blocks[i] for i in b)) for b in batches]
    # each batch covers a run of consecutive pages after the previous batch's (in id order, every batch
    # of these random ids would span the whole table)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False)), spans
    assert all(hi - lo <= 2 for lo, hi in spans), spans


def test_invites_the_application_moves_after_the_plan_are_still_linked_exactly_once(conn, legacy: Legacy,
                                                                                       app_db: sa.Engine):
    bulk_invites(conn, 400)
    opts = BackfillOptions(run_id="run-1", batch_size=40, lanes=1)
    plan(conn, opts)
    assert phases.run_phase(conn, opts, phases.CREATE_PATIENTS).complete
    paused = phases.run_phase(conn, replace(opts, max_batches=2), phases.LINK_INVITES)  # 80 of 400 linked
    assert not paused.complete
    before = conn.execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NOT NULL")).scalar_one()
    conn.commit()
    assert 0 < before < 400

    # the application writes new versions of linked and unlinked invites, then a table rewrite moves
    # every row to another place than the plan's walk key says
    conn.execute(sa.text("UPDATE invites SET status = 'sent', updated_at = now() "
                         "WHERE id IN (SELECT id FROM invites ORDER BY id LIMIT 150)"))
    conn.commit()
    with app_db.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        admin.exec_driver_sql("VACUUM FULL invites")
    moved = heap_blocks(conn, "invites")

    second = backfill(conn, batch_size=40, lanes=1)

    assert second.complete
    linked = conn.execute(sa.text(
        "SELECT count(*) FROM invites i JOIN patients p ON p.id = i.patient_id WHERE p.email = i.email")).scalar_one()
    once = conn.execute(sa.text(
        "SELECT count(DISTINCT entity_id), count(*) FROM patient_pipeline.backfill_link_ledger "
        "WHERE run_id = 'run-1' AND entity = 'invite'")).one()
    statuses = conn.execute(sa.text("SELECT count(*) FROM invites WHERE status = 'sent'")).scalar_one()
    conn.commit()
    assert linked == 400  # every invite linked to its own person's patient
    assert tuple(once) == (400, 400)  # each link written (and ledgered) exactly once
    assert statuses == 150  # the application's writes are kept
    assert len(moved) == 400


def test_link_users_runs_no_batch_for_users_linked_with_their_new_patient(conn, legacy: Legacy):
    bulk_users(conn, 120)
    # one existing patient without a user whose user the plan matches (rule 8): link_users' only row
    legacy.user("u-existing", "Ann Old", "ann.old@walk.test", account_id="acct-a")
    conn.execute(sa.text(
        "INSERT INTO patients (id, account_id, email, first_name, last_name, status, created_at, updated_at) "
        "VALUES ('p-existing', 'acct-a', 'ann.old@walk.test', 'Ann', 'Old', 'active', now(), now())"))
    conn.commit()

    result = backfill(conn, batch_size=10, lanes=1)

    by_phase = {p.phase: p for p in result.phases}
    assert (by_phase["create_patients"].rows, by_phase["create_patients"].batches) == (120, 12)
    assert (by_phase["link_users"].rows, by_phase["link_users"].batches) == (1, 1)
    linked = conn.execute(sa.text("SELECT count(*) FROM patients WHERE user_id IS NOT NULL")).scalar_one()
    existing = conn.execute(sa.text("SELECT user_id FROM patients WHERE id = 'p-existing'")).scalar_one()
    conn.commit()
    assert linked == 121 and existing == "u-existing"


def plan_rows(conn: sa.Connection) -> dict[str, list[tuple]]:
    out = {}
    for table, key in PLAN_TABLES.items():
        out[table] = [tuple(r) for r in conn.execute(sa.text(
            f"SELECT * FROM patient_pipeline.{table} ORDER BY {key}")).all()]
    conn.commit()
    return out


def test_the_plan_read_in_parallel_heap_slices_equals_the_serial_plan(conn, legacy: Legacy, caplog):
    bulk_invites(conn, 500)
    bulk_invites(conn, 60, prefix="u")  # invites of some of the users below: matched to them (rule 5)
    bulk_users(conn, 300)
    conn.execute(sa.text("INSERT INTO chat_sessions (id, user_id) SELECT md5('c' || id), id FROM users "
                         "WHERE role = 'patient'"))
    conn.commit()
    assert len(set(heap_blocks(conn, "invites").values())) >= 3
    assert len(set(heap_blocks(conn, "users").values())) >= 3

    serial = plan(conn, BackfillOptions(run_id="run-1", plan_workers=1))
    serial_rows = plan_rows(conn)
    caplog.set_level(logging.INFO, logger="include.backfill.planner")
    parallel = plan(conn, BackfillOptions(run_id="run-1", plan_workers=3))
    parallel_rows = plan_rows(conn)

    slices = {m.getMessage().split(" (slice ")[0] for m in caplog.records if "(slice 3/3," in m.getMessage()}
    assert slices == {"plan plan_02_invites", "plan plan_03_users"}  # each read in three slices
    assert parallel.plan_id > serial.plan_id
    assert {**parallel.as_dict(), "plan_id": 0} == {**serial.as_dict(), "plan_id": 0}
    assert parallel_rows == serial_rows
    assert len(serial_rows["backfill_plan_invites"]) == 560 and len(serial_rows["backfill_plan_chats"]) == 300
