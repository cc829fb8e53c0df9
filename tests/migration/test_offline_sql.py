"""`alembic … --sql` prints the lock-safe forms, with each step in the transaction it needs:
NOT VALID and VALIDATE in different transactions, CONCURRENTLY outside any transaction."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from include.core import settings
from include.tools import sql_lint


@dataclass(frozen=True)
class Statement:
    sql: str
    block: int | None  # which BEGIN…COMMIT block it is in (None: outside any transaction)


def offline(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "alembic", *args, "--sql"], cwd=settings.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def statements(script: str) -> list[Statement]:
    out: list[Statement] = []
    block: int | None = None
    blocks = 0
    for raw in script.split(";"):
        sql = " ".join(ln for ln in raw.splitlines() if not ln.strip().startswith("--")).strip()
        sql = " ".join(sql.split())
        if not sql:
            continue
        if sql == "BEGIN":
            assert block is None, "nested BEGIN"
            blocks += 1
            block = blocks
        elif sql == "COMMIT":
            assert block is not None, "COMMIT outside a transaction"
            block = None
        else:
            out.append(Statement(sql, block))
    assert block is None, "script ends inside a transaction"
    return out


@pytest.fixture(scope="module")
def upgrade_sql() -> str:
    return offline("upgrade", f"{settings.REV_BASELINE}:head")


@pytest.fixture(scope="module")
def downgrade_sql() -> str:
    return offline("downgrade", f"head:{settings.REV_BASELINE}")


def first_ddl_after_timeouts(stmts: list[Statement]) -> None:
    sets = [i for i, s in enumerate(stmts) if s.sql.startswith("SET ")]
    ddl = [i for i, s in enumerate(stmts) if s.sql.startswith(("ALTER", "CREATE", "DROP"))]
    assert any(stmts[i].sql.startswith("SET lock_timeout = ") for i in sets)
    assert any(stmts[i].sql.startswith("SET statement_timeout = ") for i in sets)
    assert max(sets) < min(ddl), "timeouts must be set before the first DDL"


def test_the_upgrade_script_uses_the_lock_safe_forms(upgrade_sql: str) -> None:
    for needle in ("SET lock_timeout", "NOT VALID", "VALIDATE CONSTRAINT", "CREATE INDEX CONCURRENTLY",
                   "CREATE UNIQUE INDEX CONCURRENTLY", "UNIQUE USING INDEX", "SET NOT NULL"):
        assert needle in upgrade_sql, needle
    stmts = statements(upgrade_sql)
    first_ddl_after_timeouts(stmts)

    concurrent = [s for s in stmts if "CONCURRENTLY" in s.sql]
    assert len(concurrent) == 3 and all(s.block is None for s in concurrent)

    # Every NOT VALID constraint is validated later, outside the transaction that added it.
    added = {re.search(r"ADD CONSTRAINT (\w+)", s.sql).group(1): s for s in stmts if s.sql.endswith("NOT VALID")}
    assert set(added) == {"invites_patient_id_fkey", "chat_sessions_patient_id_fkey", "patients_user_id_fkey",
                          "ck_invites_patient_id_not_null"}
    for name, add in added.items():
        validate = [s for s in stmts if s.sql.endswith(f"VALIDATE CONSTRAINT {name}")]
        assert len(validate) == 1 and validate[0].block is None, name
        assert stmts.index(validate[0]) > stmts.index(add)
        # VALIDATE (autocommit) is never part of the transaction that added the constraint: either the
        # ADD ran in an explicit transaction block, or it was its own autocommit statement.
        assert add.block is None or add.block != validate[0].block

    # Foreign keys and uniqueness on existing tables only in their lock-safe forms.
    for s in stmts:
        if s.sql.startswith("ALTER TABLE") and "FOREIGN KEY" in s.sql:
            assert s.sql.endswith("NOT VALID"), s.sql
        if s.sql.startswith("ALTER TABLE") and " UNIQUE" in s.sql:
            assert "UNIQUE USING INDEX" in s.sql, s.sql
    # NOT NULL only once the CHECK proving it is validated; the CHECK dropped after.
    order = [s.sql for s in stmts]
    set_not_null = order.index("ALTER TABLE invites ALTER COLUMN patient_id SET NOT NULL")
    assert order.index("ALTER TABLE invites VALIDATE CONSTRAINT ck_invites_patient_id_not_null") < set_not_null
    assert order.index("ALTER TABLE invites DROP CONSTRAINT ck_invites_patient_id_not_null") > set_not_null


def test_the_downgrade_script_drops_indexes_concurrently_and_only_what_the_upgrades_added(
        downgrade_sql: str) -> None:
    assert "SET lock_timeout" in downgrade_sql
    stmts = statements(downgrade_sql)
    first_ddl_after_timeouts(stmts)
    drops = [s for s in stmts if s.sql.startswith("DROP INDEX")]
    assert {s.sql for s in drops} == {"DROP INDEX CONCURRENTLY ix_invites_patient_id",
                                      "DROP INDEX CONCURRENTLY ix_chat_sessions_patient_id"}
    assert all(s.block is None for s in drops)
    dropped = [s.sql for s in stmts if " DROP " in f" {s.sql}" and not s.sql.startswith("DROP INDEX")]
    assert dropped == [
        "ALTER TABLE invites ALTER COLUMN patient_id DROP NOT NULL",
        "ALTER TABLE patients DROP CONSTRAINT uq_patients_user_id",
        "ALTER TABLE patients DROP CONSTRAINT patients_user_id_fkey",
        "ALTER TABLE patients DROP COLUMN user_id",
        "ALTER TABLE chat_sessions DROP CONSTRAINT chat_sessions_patient_id_fkey",
        "ALTER TABLE invites DROP CONSTRAINT invites_patient_id_fkey",
        "ALTER TABLE chat_sessions DROP COLUMN patient_id",
        "ALTER TABLE invites DROP COLUMN patient_id",
        "DROP TABLE patients",
    ]
    assert f"version_num='{settings.REV_BASELINE}'" in downgrade_sql


def test_the_linter_lints_exactly_what_the_command_line_prints(upgrade_sql: str, downgrade_sql: str) -> None:
    by_name = {s.name: s for s in sql_lint.SCRIPTS}
    assert sql_lint.render_offline_sql(by_name["upgrade"]) == upgrade_sql
    assert sql_lint.render_offline_sql(by_name["downgrade"]) == downgrade_sql
