"""A real crash: the CLI (`python -m include.backfill`) is SIGKILLed mid-run with two lanes per phase, then
rerun; the result equals an uninterrupted one-lane run on a second database (same patient ids, same links)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from include.core import alembic_driver, db, pipeline_schema, settings
from tests.backfill.legacy_rows import Legacy, at
from tests.conftest import create_database, drop_database


def seed(conn: sa.Connection) -> None:
    lg = Legacy(conn)
    lg.account("acct-a")
    lg.clinician("clin-a", "acct-a")
    for n in range(300):
        lg.invite(f"inv-{n:04d}", f"person{n % 240}@x.test", f"Ada{n % 240}", "Lovelace",
                  status="accepted" if n % 3 == 0 else "pending", created_at=at(n))
    for n in range(0, 240, 4):
        lg.user(f"user-{n:04d}", f"Ada{n} Lovelace", f"person{n}@x.test", account_id="acct-a")
        lg.chat(f"chat-{n:04d}", f"user-{n:04d}")


def build(pg_server: str) -> tuple[str, sa.Engine]:
    uri = create_database(pg_server)
    eng = sa.create_engine(db.to_sqlalchemy_url(uri))
    with eng.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
        seed(conn)
    return uri, eng


def cli(uri: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "include.backfill", "--db", uri, "--run-id", "crash-run", "--batch-size", "2", *extra]


def state(eng: sa.Engine) -> dict[str, object]:
    with eng.connect() as conn:
        return {
            "patients": [tuple(r) for r in conn.execute(sa.text(
                "SELECT id, account_id, email, first_name, last_name, status, user_id FROM patients ORDER BY id"))],
            "invites": [tuple(r) for r in conn.execute(sa.text("SELECT id, patient_id FROM invites ORDER BY id"))],
            "chats": [tuple(r) for r in conn.execute(sa.text("SELECT id, patient_id FROM chat_sessions ORDER BY id"))],
            "ledger": [tuple(r) for r in conn.execute(sa.text(
                "SELECT entity, entity_id, patient_id FROM patient_pipeline.backfill_link_ledger ORDER BY 1, 2"))],
        }


def batches_committed(conn: sa.Connection) -> int:
    n = int(conn.execute(sa.text(
        "SELECT coalesce(sum(batches), 0) FROM patient_pipeline.backfill_checkpoints")).scalar_one())
    conn.commit()
    return n


def test_sigkilled_backfill_rerun_equals_an_uninterrupted_run(pg_server):
    env = {**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT)}
    crashed_uri, crashed = build(pg_server)
    clean_uri, clean = build(pg_server)
    try:
        proc = subprocess.Popen(cli(crashed_uri, "--lanes", "2"), cwd=settings.PROJECT_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        with crashed.connect() as watch:
            while batches_committed(watch) < 10 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert proc.poll() is None, "the backfill finished before it could be killed; use more rows"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            killed_at = batches_committed(watch)
        assert 0 < killed_at
        half = state(crashed)
        assert any(p is None for _, p in half["invites"])  # really interrupted

        rerun = subprocess.run(cli(crashed_uri, "--lanes", "2"), cwd=settings.PROJECT_ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        straight = subprocess.run(cli(clean_uri, "--lanes", "1"), cwd=settings.PROJECT_ROOT, env=env, capture_output=True,
                                  text=True, timeout=300)
        assert straight.returncode == 0, straight.stderr[-2000:]

        after, expected = state(crashed), state(clean)
        assert after == expected
        assert all(p is not None for _, p in after["invites"])
        assert len(after["patients"]) == 240
        with crashed.connect() as conn:  # the crashed run really ran its phases in two lanes
            lanes = conn.execute(sa.text("SELECT count(*) FROM patient_pipeline.backfill_checkpoints "
                                         "WHERE phase LIKE 'create!_patients#_/2' ESCAPE '!'")).scalar_one()
        assert lanes == 2
    finally:
        crashed.dispose()
        clean.dispose()
        drop_database(pg_server, crashed_uri)
        drop_database(pg_server, clean_uri)
