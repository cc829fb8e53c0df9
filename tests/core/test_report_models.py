"""One owner per recurring fact (issue 26): the DAG ids, display names, report files and phases live in
include/core/pipeline_dags.py; each report's keys in include/core/report_models.py, which the writers
and the UI share (no report key written as a string in one module and read in another)."""

from __future__ import annotations

import ast
import re

from include.core import failures, pipeline_dags, report_models, settings
from include.migration_run import report as migration_report
from include.rollback import report as rollback_report

REPORTS_UI = settings.PROJECT_ROOT / "include" / "ui" / "reports.py"
DAG_ID_LITERAL = re.compile(r"""(==|!=|\bin\b|=)\s*["'](%s)["']""".replace("%s", "|".join(pipeline_dags.DAG_IDS)))


def test_every_registered_dag_has_a_report_model():
    for dag in pipeline_dags.ALL:
        assert dag.kind in report_models.REPORT_MODELS, dag.dag_id
        assert dag.report_file.endswith(".json") and dag.phases, dag.dag_id


def test_the_migration_and_rollback_writers_write_only_their_models_keys():
    migration = migration_report.build_report_sections({"dry_run": True}, {}, [])
    failures.add_to_sections(migration, [])
    assert set(migration) <= report_models.keys(report_models.MigrationReport)
    assert report_models.QUARANTINE_MISSING_NAME in migration
    rollback = rollback_report.build_report_sections({"dry_run": True}, {}, [])
    failures.add_to_sections(rollback, [])
    assert set(rollback) <= report_models.keys(report_models.RollbackReport)


def test_the_report_tab_reads_only_keys_its_models_declare():
    tree = ast.parse(REPORTS_UI.read_text(encoding="utf-8"))
    constants = {n: getattr(report_models, n) for n in dir(report_models) if n.isupper()}
    checked = 0
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        if not fn.args.args or not isinstance(fn.args.args[0].annotation, ast.Name):
            continue
        model = getattr(report_models, fn.args.args[0].annotation.id, None)
        if model is None:
            continue
        param = fn.args.args[0].arg
        for node in ast.walk(fn):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == param and node.args:
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == param:
                key = node.slice
            if key is None:
                continue
            names = [key.value] if isinstance(key, ast.Constant) else \
                [constants[key.id]] if isinstance(key, ast.Name) and key.id in constants else \
                [k.value for k in ast.walk(key) if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            for name in names:
                assert name in report_models.keys(model), f"{fn.name} reads {name!r}, not in {model.__name__}"
                checked += 1
    assert checked > 20


def test_no_module_spells_a_dag_id_of_its_own():
    """Assignments and comparisons take the id from the registry (docstrings and messages may name it)."""
    offenders = []
    for top in ("include", "dags", "plugins"):
        for path in sorted((settings.PROJECT_ROOT / top).rglob("*.py")):
            rel = path.relative_to(settings.PROJECT_ROOT).as_posix()
            if rel in ("include/core/pipeline_dags.py",) or rel.startswith(("include/bench/", "include/api/")):
                continue  # the benchmarks and the intake API: their branch moves to the registry
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DAG_ID_LITERAL.search(line.split("#")[0]):
                    offenders.append(f"{rel}:{i}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
