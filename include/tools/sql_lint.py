"""Lint the migrations' offline SQL with squawk (``python -m include.tools.sql_lint``, ``make lint``).

Renders the scripts that ``alembic ... --sql`` prints (the baseline, every upgrade after it, every
downgrade back to it) into a folder, runs squawk on them with the project's ``.squawk.toml`` and
fails on any finding that is not accepted on purpose. Two kinds of acceptance, both explained in
``docs/squawk-accepted.md``:

* rules accepted everywhere are listed in ``.squawk.toml`` (``excluded_rules``);
* single findings accepted in one script only (a downgrade dropping the column its upgrade added)
  are listed in :data:`ACCEPTED`, matched by script, rule and exact statement. An acceptance that
  no longer matches any finding is reported as stale, so the list cannot silently outlive its reason.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from include.core import settings
from include.core.errors import GenascopeError

SQUAWK_CONFIG = settings.PROJECT_ROOT / ".squawk.toml"


@dataclass(frozen=True)
class OfflineScript:
    """One ``alembic <command> <range> --sql`` rendering."""

    name: str
    command: str  # "upgrade" or "downgrade"
    revision_range: str


SCRIPTS: tuple[OfflineScript, ...] = (
    OfflineScript("baseline", "upgrade", f"base:{settings.REV_BASELINE}"),
    OfflineScript("upgrade", "upgrade", f"{settings.REV_BASELINE}:head"),
    OfflineScript("downgrade", "downgrade", f"head:{settings.REV_BASELINE}"),
)


@dataclass(frozen=True)
class Acceptance:
    """One finding accepted on purpose: ``rule`` on exactly ``statement`` in script ``script``."""

    script: str
    rule: str
    statement: str
    reason: str


_ROLLBACK = "the rollback DAG archives the links/rows into the pipeline schema before this downgrade runs"

#: Findings accepted in one script only (docs/squawk-accepted.md explains each).
ACCEPTED: tuple[Acceptance, ...] = (
    Acceptance("upgrade", "ban-drop-constraint",
               "ALTER TABLE invites DROP CONSTRAINT ck_invites_patient_id_not_null",
               "temporary CHECK of the NOT NULL recipe; SET NOT NULL in the same transaction holds the guarantee"),
    Acceptance("downgrade", "ban-drop-not-null",
               "ALTER TABLE invites ALTER COLUMN patient_id DROP NOT NULL",
               "undoes 20250530 only; the column was nullable before it"),
    Acceptance("downgrade", "ban-drop-constraint", "ALTER TABLE patients DROP CONSTRAINT uq_patients_user_id",
               "created by 20250529; its downgrade removes only what it added"),
    Acceptance("downgrade", "ban-drop-constraint", "ALTER TABLE patients DROP CONSTRAINT patients_user_id_fkey",
               "created by 20250529; its downgrade removes only what it added"),
    Acceptance("downgrade", "ban-drop-constraint",
               "ALTER TABLE chat_sessions DROP CONSTRAINT chat_sessions_patient_id_fkey",
               "created by 20250528; its downgrade removes only what it added"),
    Acceptance("downgrade", "ban-drop-constraint", "ALTER TABLE invites DROP CONSTRAINT invites_patient_id_fkey",
               "created by 20250528; its downgrade removes only what it added"),
    Acceptance("downgrade", "ban-drop-column", "ALTER TABLE patients DROP COLUMN user_id",
               f"added by 20250529; {_ROLLBACK}"),
    Acceptance("downgrade", "ban-drop-column", "ALTER TABLE chat_sessions DROP COLUMN patient_id",
               f"added by 20250528; {_ROLLBACK}"),
    Acceptance("downgrade", "ban-drop-column", "ALTER TABLE invites DROP COLUMN patient_id",
               f"added by 20250528; {_ROLLBACK}"),
    Acceptance("downgrade", "ban-drop-table", "DROP TABLE patients",
               "created by 20250527; online it refuses while rows exist unless patients_archived=yes"),
)


@dataclass(frozen=True)
class Finding:
    script: str
    rule: str
    line: int  # 1-based, as an editor shows it
    statement: str
    message: str
    accepted_by: Acceptance | None = None

    def describe(self) -> str:
        state = "accepted" if self.accepted_by else "NOT ACCEPTED"
        return f"{self.script}.sql:{self.line}: {self.rule} ({state}): {self.message}\n    {self.statement}"


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...]
    stale: tuple[Acceptance, ...]  # acceptances that matched nothing
    scripts: tuple[Path, ...]

    @property
    def rejected(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.accepted_by is None)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.stale

    def report(self) -> str:
        lines = [f"squawk: {len(self.findings)} findings in {len(self.scripts)} scripts, "
                 f"{len(self.findings) - len(self.rejected)} accepted, {len(self.rejected)} not accepted"]
        lines += [f.describe() for f in self.rejected]
        lines += [f"stale acceptance (matches nothing; remove it from include/tools/sql_lint.py and the doc): "
                  f"{a.script}: {a.rule}: {a.statement}" for a in self.stale]
        if not self.ok:
            lines.append("Fix the revision (preferred) or, if the finding is safe on purpose, add it to "
                         "include/tools/sql_lint.py ACCEPTED and docs/squawk-accepted.md with the reason.")
        return "\n".join(lines)


class SquawkNotFound(GenascopeError, RuntimeError):
    """The squawk binary (PyPI ``squawk-cli``) is not installed."""


class SquawkFailed(GenascopeError, RuntimeError):
    """squawk itself failed (bad config, crash), as opposed to reporting findings."""


def squawk_binary() -> Path | None:
    """The venv's squawk (next to this interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.exists():
        return beside
    found = shutil.which("squawk")
    return Path(found) if found else None


def render_offline_sql(script: OfflineScript) -> str:
    """The SQL ``python -m alembic <command> <range> --sql`` prints, rendered in-process."""
    from alembic import command

    from include.core import alembic_driver

    buffer = io.StringIO()
    cfg = alembic_driver.alembic_config()
    cfg.output_buffer = buffer
    getattr(command, script.command)(cfg, script.revision_range, sql=True)
    return buffer.getvalue()


def write_offline_scripts(out_dir: Path, scripts: tuple[OfflineScript, ...] = SCRIPTS) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for script in scripts:
        path = out_dir / f"{script.name}.sql"
        path.write_text(render_offline_sql(script), encoding="utf-8")
        paths[script.name] = path
    return paths


def run_squawk(paths: list[Path], *, config: Path = SQUAWK_CONFIG, binary: Path | None = None) -> list[dict]:
    """squawk's JSON findings for ``paths`` (0-based line/column, as squawk reports them)."""
    binary = binary or squawk_binary()
    if binary is None:
        raise SquawkNotFound("squawk is not installed: install squawk-cli from requirements.txt into .venv")
    proc = subprocess.run(
        [str(binary), "--config", str(config), "--reporter", "json", *map(str, paths)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise SquawkFailed(f"squawk exited {proc.returncode} without JSON output: {proc.stderr.strip()[:500]}") from exc
    if proc.returncode not in (0, 1) or not isinstance(findings, list):
        raise SquawkFailed(f"squawk exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return findings


def _normalize(statement: str) -> str:
    code = [ln for ln in statement.splitlines() if not ln.strip().startswith("--")]
    return " ".join(" ".join(code).split())


def statement_at(sql: str, line: int, column: int) -> str:
    """The whole statement (comments dropped, whitespace collapsed) around a 0-based line/column."""
    lines = sql.splitlines(keepends=True)
    offset = sum(len(x) for x in lines[:line]) + column
    start = sql.rfind(";", 0, offset) + 1
    end = sql.find(";", offset)
    return _normalize(sql[start: end if end != -1 else len(sql)])


def classify(script: str, sql: str, raw: list[dict],
             acceptances: tuple[Acceptance, ...] = ACCEPTED) -> list[Finding]:
    out: list[Finding] = []
    for item in raw:
        statement = statement_at(sql, int(item.get("line", 0)), int(item.get("column", 0)))
        rule = str(item.get("rule_name"))
        match = next((a for a in acceptances if a.script == script and a.rule == rule and a.statement == statement),
                     None)
        out.append(Finding(script, rule, int(item.get("line", 0)) + 1, statement, str(item.get("message")), match))
    return out


def lint_scripts(paths: dict[str, Path], *, acceptances: tuple[Acceptance, ...] = ACCEPTED,
                 config: Path = SQUAWK_CONFIG, binary: Path | None = None) -> LintResult:
    """Lint already-written scripts (name -> path); ``name`` is what acceptances refer to."""
    raw = run_squawk(list(paths.values()), config=config, binary=binary)
    findings: list[Finding] = []
    for name, path in paths.items():
        mine = [r for r in raw if Path(str(r.get("file"))) == path]
        findings += classify(name, path.read_text(encoding="utf-8"), mine, acceptances)
    used = {f.accepted_by for f in findings if f.accepted_by}
    relevant = [a for a in acceptances if a.script in paths]
    return LintResult(tuple(findings), tuple(a for a in relevant if a not in used), tuple(paths.values()))


def lint(out_dir: Path | None = None, *, config: Path = SQUAWK_CONFIG, binary: Path | None = None) -> LintResult:
    """Render every offline script (into ``out_dir``, else a temp dir) and lint them."""
    if out_dir is not None:
        return lint_scripts(write_offline_scripts(out_dir), config=config, binary=binary)
    with tempfile.TemporaryDirectory(prefix="genascope_sql_lint_") as tmp:
        return lint_scripts(write_offline_scripts(Path(tmp)), config=config, binary=binary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.tools.sql_lint", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the offline scripts into this folder and keep them")
    parser.add_argument("--verbose", action="store_true", help="also list the accepted findings")
    args = parser.parse_args(argv)
    try:
        result = lint(args.keep)
    except (SquawkNotFound, SquawkFailed) as exc:
        print(f"sql_lint: {exc}", file=sys.stderr)
        return 2
    print(result.report())
    if args.verbose:
        for f in result.findings:
            if f.accepted_by:
                print(f"accepted: {f.script}: {f.rule}: {f.statement}\n    because {f.accepted_by.reason}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
