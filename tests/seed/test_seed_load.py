"""Loading with COPY: deterministic checksums, counts equal to the summary, FK-valid, clear refusals."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa
from seed_helpers import Seeded

from include.core import alembic_driver, settings
from include.core.checksums import legacy_checksums
from include.seed import (
    TABLES,
    LegacyGenerator,
    SeedIntegrityError,
    SeedPermissionError,
    SeedTargetNotEmpty,
    SeedTargetNotReady,
    generate,
    load,
)
from include.seed.__main__ import main


def checksums(uri: str) -> dict:
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return legacy_checksums(conn)
    finally:
        engine.dispose()


def test_same_seed_twice_gives_identical_checksums(legacy_engine, fresh_db, second_legacy_db):
    a = generate(fresh_db, 600, seed=7, chunk_invites=100, fk_checks="on")
    b = generate(second_legacy_db, 600, seed=7, fk_checks="verify")
    assert (a.reference_checks, b.reference_checks) == ("per-row FK triggers", "verified after load")
    assert a == b
    first, second = checksums(fresh_db), checksums(second_legacy_db)
    assert first == second
    assert {t: c.rows for t, c in first.items()} == a.table_counts()


def test_summary_counts_equal_table_counts(seeded: Seeded):
    for table, n in seeded.summary.table_counts().items():
        assert seeded.scalar(f"SELECT count(*) FROM {table}") == n, table
    assert seeded.summary.invites == 400


def test_loaded_rows_are_referentially_sound(seeded: Seeded):
    # columns without a declared FK must still point at real rows
    assert seeded.scalar("""SELECT count(*) FROM users u WHERE u.account_id IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = u.account_id)""") == 0
    assert seeded.scalar("""SELECT count(*) FROM users u WHERE u.clinician_id IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM users c WHERE c.id = u.clinician_id
                                            AND lower(c.role) = 'clinician')""") == 0
    assert seeded.scalar("""SELECT count(*) FROM chat_sessions s WHERE s.clinician_id IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM users c WHERE c.id = s.clinician_id)""") == 0
    assert seeded.scalar("""SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated""") == 0
    assert seeded.scalar("""SELECT count(*) FROM invites i JOIN users c ON c.id = i.clinician_id
                            WHERE lower(c.role) <> 'clinician'""") == 0


class _OrphanMessage(LegacyGenerator):
    """A broken generator: its last chunk carries a chat message of a session that does not exist."""

    def chunks(self):
        for chunk in super().chunks():
            chunk.chat_messages.append(("m-orphan", "no-such-session", "user", "hello", datetime(2024, 1, 1)))
            yield chunk


def test_a_broken_reference_rolls_the_whole_load_back(legacy_engine, fresh_db):
    with pytest.raises(SeedIntegrityError, match="chat_messages.session_id"):
        load(fresh_db, _OrphanMessage(300, 1), fk_checks="verify")
    with psycopg.connect(fresh_db) as conn:
        assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES] == [0] * len(TABLES)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        load(fresh_db, _OrphanMessage(300, 1), fk_checks="on")


def test_refuses_a_database_without_the_legacy_schema(fresh_db):
    with pytest.raises(SeedTargetNotReady, match="alembic upgrade 20250526_legacy_baseline"):
        generate(fresh_db, 10)


def test_refuses_a_finalized_database(legacy_engine, fresh_db):
    with legacy_engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_FINALIZE_INVITES)
    with pytest.raises(SeedTargetNotReady, match="NOT NULL"):
        generate(fresh_db, 10)


def test_refuses_tables_that_already_hold_rows(seeded: Seeded):
    with pytest.raises(SeedTargetNotEmpty, match="fresh database"):
        generate(seeded.uri, 10)


def test_cli_loads_and_prints_counts_only(legacy_engine, fresh_db, capsys):
    assert main(["--invites", "250", "--seed", "3", "--database-url", fresh_db]) == 0
    out = capsys.readouterr().out
    assert "invites" in out and " 250" in out
    assert "@" not in out  # no e-mails (or any other PHI) in the summary
    for table in TABLES:
        assert f"table {table}" in out


def test_cli_reports_an_unready_database_with_exit_code_2(fresh_db, capsys):
    assert main(["--invites", "10", "--database-url", fresh_db]) == 2
    assert "alembic upgrade" in capsys.readouterr().err


def test_without_the_privilege_auto_falls_back_to_per_row_fk_checks(pg_server, second_legacy_db):
    role = f"gs_seed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(second_legacy_db, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT, INSERT ON {', '.join(TABLES)} TO {role}")
            conn.execute(f"GRANT SELECT ON alembic_version TO {role}")
        parts = urlsplit(second_legacy_db)
        host = parts.netloc.split("@", 1)[1] if "@" in parts.netloc else parts.netloc
        as_role = urlunsplit((parts.scheme, f"{role}@{host}", parts.path, parts.query, ""))
        with pytest.raises(SeedPermissionError, match="--fk-checks on"):
            generate(as_role, 200, fk_checks="verify")
        summary = generate(as_role, 200)
        assert summary.reference_checks == "per-row FK triggers" and summary.invites == 200
    finally:
        with psycopg.connect(second_legacy_db, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")  # its grants, so the role can go
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")
