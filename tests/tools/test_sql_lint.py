"""squawk lints the offline migration SQL; only findings accepted on purpose pass."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from include.core import settings
from include.tools import sql_lint

SQUAWK = sql_lint.squawk_binary()
needs_squawk = pytest.mark.skipif(SQUAWK is None, reason="squawk binary (squawk-cli) not installed")
DOC = settings.PROJECT_ROOT / "docs" / "squawk-accepted.md"


@needs_squawk
def test_the_migrations_pass_squawk_with_only_accepted_findings(tmp_path: Path) -> None:
    result = sql_lint.lint(tmp_path)
    assert result.ok, result.report()
    assert {p.name for p in result.scripts} == {"baseline.sql", "upgrade.sql", "downgrade.sql"}
    assert all(f.accepted_by is not None for f in result.findings)


@needs_squawk
def test_the_lint_command_exits_zero() -> None:
    proc = subprocess.run([sys.executable, "-m", "include.tools.sql_lint"], cwd=settings.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 not accepted" in proc.stdout


@needs_squawk
def test_an_unsafe_statement_fails_the_lint(tmp_path: Path) -> None:
    bad = tmp_path / "upgrade.sql"
    bad.write_text("SET lock_timeout = 2000;\nSET statement_timeout = 60000;\n"
                   "CREATE INDEX ix_invites_status ON invites (status);\n"
                   "ALTER TABLE invites ADD CONSTRAINT invites_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\n"
                   "ALTER TABLE patients DROP COLUMN user_id;\n")
    result = sql_lint.lint_scripts({"upgrade": bad})
    assert not result.ok
    rules = {f.rule for f in result.rejected}
    # The same DROP COLUMN accepted in the downgrade is rejected in an upgrade.
    assert {"require-concurrent-index-creation", "adding-foreign-key-constraint", "ban-drop-column"} <= rules
    assert any(f.statement == "ALTER TABLE patients DROP COLUMN user_id" for f in result.rejected)
    assert "NOT ACCEPTED" in result.report()


@needs_squawk
def test_an_acceptance_that_matches_nothing_is_reported_as_stale(tmp_path: Path) -> None:
    clean = tmp_path / "downgrade.sql"
    clean.write_text("SET lock_timeout = 2000;\nSET statement_timeout = 60000;\nSELECT 1;\n")
    result = sql_lint.lint_scripts({"downgrade": clean})
    assert not result.ok and not result.rejected
    assert {a.statement for a in result.stale} == {a.statement for a in sql_lint.ACCEPTED if a.script == "downgrade"}


def test_the_config_and_the_doc_agree_on_every_accepted_finding() -> None:
    config = tomllib.loads(sql_lint.SQUAWK_CONFIG.read_text())
    assert config["pg_version"] == "15" and config["assume_in_transaction"] is False
    doc = DOC.read_text()
    for rule in config["excluded_rules"]:
        assert f"| `{rule}` |" in doc, f"{rule} is excluded in .squawk.toml but not explained in {DOC.name}"
    for acceptance in sql_lint.ACCEPTED:
        assert f"`{acceptance.rule}` | `{acceptance.statement}`" in doc, acceptance


def test_a_finding_is_mapped_to_its_whole_statement() -> None:
    sql = "SET lock_timeout = 1;\n\n-- Running downgrade x\n\nALTER TABLE patients\n    DROP COLUMN user_id;\n"
    assert sql_lint.statement_at(sql, 5, 4) == "ALTER TABLE patients DROP COLUMN user_id"
    assert sql_lint.statement_at(sql, 0, 0) == "SET lock_timeout = 1"
