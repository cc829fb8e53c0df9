"""The backfill benchmark's full ceiling C2 reaches the end state P reaches (so P / C2 compares equal work),
and the lanes do not change P's end state. On both servers; small seeded data."""

from __future__ import annotations

import sqlalchemy as sa

from include import seed as seeder
from include.backfill import BackfillOptions, run_all
from include.bench import backfill_paths
from include.core import alembic_driver, db, settings
from tests.conftest import create_database, drop_database

INVITES = 3_000


def _seeded(pg_server: str) -> tuple[str, sa.Engine]:
    uri = create_database(pg_server)
    eng = db.create_engine(uri)
    with eng.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(uri, INVITES, 42)
    with eng.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    return uri, eng


def _end_state(eng: sa.Engine) -> dict[str, int]:
    with eng.connect() as conn:
        return {name: int(conn.execute(sa.text(q)).scalar_one()) for name, q in {
            "patients": "SELECT count(*) FROM patients",
            "patients_with_user": "SELECT count(*) FROM patients WHERE user_id IS NOT NULL",
            "invites_linked": "SELECT count(*) FROM invites WHERE patient_id IS NOT NULL",
            "chats_linked": "SELECT count(*) FROM chat_sessions WHERE patient_id IS NOT NULL",
            "chats": "SELECT count(*) FROM chat_sessions",
        }.items()}


def _links(eng: sa.Engine) -> list[tuple]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT 'i', id, patient_id FROM invites UNION ALL SELECT 'c', id, patient_id FROM chat_sessions "
            "UNION ALL SELECT 'p', id, user_id FROM patients ORDER BY 1, 2"))]


def test_c2_writes_the_end_state_p_writes_and_lanes_change_nothing(pg_server):
    made = [_seeded(pg_server) for _ in range(3)]
    try:
        (_, c2_eng), (_, one_eng), (_, lanes_eng) = made
        with c2_eng.connect() as conn:
            rows, seconds = backfill_paths.ceiling_c2(conn)
        assert rows == INVITES and seconds > 0
        with one_eng.connect() as conn:
            assert run_all(conn, BackfillOptions(run_id="one", batch_size=50, lanes=1)).complete
        with lanes_eng.connect() as conn:
            result = run_all(conn, BackfillOptions(run_id="lanes", batch_size=50, lanes=2, lane_min_batches=2))
        assert result.complete
        assert {ph.phase: ph.lanes for ph in result.phases}["link_invites"] == 2

        c2, p = _end_state(c2_eng), _end_state(one_eng)
        assert p["invites_linked"] == INVITES and p["chats_linked"] == p["chats"] > 0
        # the same persons, user links and chat links; C2 skips only the invites whose first name P takes
        # from the invite's user (rule 4), which C2's one-statement key cannot see
        assert (c2["patients"], c2["patients_with_user"], c2["chats_linked"]) == (
            p["patients"], p["patients_with_user"], p["chats_linked"])
        assert 0.95 * p["invites_linked"] <= c2["invites_linked"] <= p["invites_linked"]
        # two lanes side by side: exactly the ids and links of one lane
        assert _links(lanes_eng) == _links(one_eng)
    finally:
        for uri, eng in made:
            eng.dispose()
            drop_database(pg_server, uri)
