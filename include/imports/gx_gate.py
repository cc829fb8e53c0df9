"""Great Expectations gates: the staged batch of a file before merge, the patients table after it.

GX (1.x, ephemeral context) is imported inside the functions only: importing it takes seconds. ``prewarm``
starts that import in a background thread (once per process) so that it overlaps database work that
keeps the Python side idle (the import pipeline calls it before its SQL decisions). Each gate is
a list of rules; one SQL query on the app database counts the rows breaking each rule (a scan with FILTERed
counts, hash aggregates for uniqueness) and GX validates that one-row aggregate through a pandas data
source (every count must be 0). GX's own SQL expectations issue many queries per expectation (uniqueness
ones are quadratic): minutes at a million rows. The results are kept in the run folder as
JSON + markdown with rule names and counts only (never values: they would be PHI), owner-only.
Every value (file id, accounts, today) reaches the SQL as a bind parameter, never as a literal.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from include.core import private_files

log = logging.getLogger(__name__)

E164 = r"^\+[1-9][0-9]{6,14}$"
STATUSES = ["pending", "active", "inactive", "archived"]


@dataclass(frozen=True)
class GateResult:
    name: str
    success: bool
    evaluated: int
    failed: list[str] = field(default_factory=list)
    row_count: int = 0
    json_path: str = ""
    md_path: str = ""


#: Rules of each gate: (violation column, SQL expression counting the rows that break it, or
#: ``dup:<key columns>[|<column that must be non-null>]`` for "rows whose key is not unique").
STAGED_RULES = (
    ("first_name_missing", "count(*) FILTER (WHERE first_name IS NULL OR btrim(first_name) = '')"),
    ("last_name_missing", "count(*) FILTER (WHERE last_name IS NULL OR btrim(last_name) = '')"),
    ("name_too_long", "count(*) FILTER (WHERE length(first_name) > 100 OR length(last_name) > 100)"),
    ("email_too_long", "count(*) FILTER (WHERE length(email) > 255)"),
    ("external_id_too_long", "count(*) FILTER (WHERE length(external_id) > 255)"),
    ("no_identifier", "count(*) FILTER (WHERE external_id IS NULL AND email IS NULL)"),
    ("phone_not_e164", f"count(*) FILTER (WHERE phone IS NOT NULL AND phone !~ '{E164}')"),
    ("dob_out_of_range", "count(*) FILTER (WHERE date_of_birth < DATE '1900-01-01' OR date_of_birth > CAST(:today AS date))"),
    ("patient_id_missing", "count(*) FILTER (WHERE patient_id IS NULL)"),
    ("duplicate_record_nos", "dup:record_no"),
    ("duplicate_patient_ids", "dup:patient_id"),
    ("duplicate_external_ids", "dup:external_id"),
    ("duplicate_identity_keys", "dup:patient_pipeline.email_key(email), patient_pipeline.key_form(first_name)|email"),
)
PATIENT_RULES = (
    ("first_name_missing", "count(*) FILTER (WHERE first_name IS NULL OR btrim(first_name) = '')"),
    ("last_name_missing", "count(*) FILTER (WHERE last_name IS NULL OR btrim(last_name) = '')"),
    ("status_unknown", "count(*) FILTER (WHERE status NOT IN ('pending', 'active', 'inactive', 'archived'))"),
    ("dob_out_of_range", "count(*) FILTER (WHERE date_of_birth < DATE '1900-01-01' OR date_of_birth > CAST(:today AS date))"),
    ("duplicate_ids", "dup:id"),
    ("duplicate_external_ids", "dup:account_id, external_id|external_id"),
    ("duplicate_identity_keys",
     "dup:account_id, patient_pipeline.email_key(email), patient_pipeline.key_form(first_name)|email"),
)


_loader_lock = threading.Lock()
_loader: threading.Thread | None = None


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401


def _import_gx_quietly() -> None:
    try:
        _import_gx()
    except Exception:  # noqa: BLE001 - the gate's own import raises the real error in the caller's thread
        log.debug("background import of great_expectations failed; the gate imports it again")


def prewarm() -> None:
    """Start importing Great Expectations in a background thread, once per process (no-op if imported)."""
    global _loader
    with _loader_lock:
        if _loader is None and "great_expectations" not in sys.modules:
            _loader = threading.Thread(target=_import_gx_quietly, name="gx-import", daemon=True)
            _loader.start()


def _wait_for_prewarm() -> None:
    loader = _loader
    if loader is not None:
        loader.join()


def _aggregate_query(rules: tuple[tuple[str, str], ...], scope: str) -> str:
    """One query: row rules as FILTERed counts over one scan; ``dup:<key>[|<not-null column>]`` rules as
    hash-aggregated counts of rows whose key occurs more than once. Values are bind parameters
    (``:today`` and the scope's own) given at execution."""
    row_cols = [f"{expr} AS {name}" for name, expr in rules if not expr.startswith("dup:")]
    dup_cols = []
    for name, expr in rules:
        if expr.startswith("dup:"):
            key, _, not_null = expr[4:].partition("|")
            where = f" AND {not_null or key} IS NOT NULL"
            dup_cols.append(f"(SELECT coalesce(sum(n) - count(*), 0) FROM (SELECT count(*) AS n {scope}{where} "
                            f"GROUP BY {key} HAVING count(*) > 1) d) AS {name}")
    cols = ",\n       ".join(["count(*) AS row_count", *row_cols, *dup_cols])
    return f"SELECT {cols}\n{scope}"


def _summarize(result: Any) -> list[dict[str, Any]]:
    """Expectation type, columns, success and counts; never the unexpected values GX samples."""
    out = []
    for r in result.results:
        cfg = r.expectation_config
        kwargs = cfg.kwargs
        out.append({
            "expectation": cfg.type,
            "rule": kwargs.get("column"),
            "success": bool(r.success),
            "raised_exception": bool((r.exception_info or {}).get("raised_exception")),
        })
    return out


def _write_report(out_dir: Path, name: str, success: bool, rows: int, items: list[dict[str, Any]],
                  meta: dict[str, Any]) -> tuple[str, str]:
    private_files.ensure_dir(out_dir)
    jpath, mpath = out_dir / f"{name}.json", out_dir / f"{name}.md"
    private_files.write_text(jpath, json.dumps({"gate": name, "success": success, "row_count": rows, **meta,
                                                "expectations": items}, indent=2, default=str))
    lines = [f"# Data-quality gate `{name}`", "", f"- result: **{'PASSED' if success else 'FAILED'}**",
             f"- rows validated: {rows}", *[f"- {k}: {v}" for k, v in meta.items()], "",
             "| rule | rows breaking it | GX expectation | passed |", "|---|---|---|---|"]
    for i in items:
        lines.append(f"| {i['rule']} | {i.get('violations', '')} | {i['expectation']} (0..0) | "
                     f"{'yes' if i['success'] else '**no**'} |")
    private_files.write_text(mpath, "\n".join(lines) + "\n")
    return str(jpath), str(mpath)


def _validate(engine: sa.Engine, name: str, rules: tuple[tuple[str, str], ...], scope: str,
              binds: dict[str, Any], today: date, out_dir: Path, meta: dict[str, Any]) -> GateResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        query = sa.text(_aggregate_query(rules, scope))
        counts = {k: int(v) for k, v in conn.execute(query, {**binds, "today": today}).mappings().one().items()}

    _wait_for_prewarm()
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (ctx.data_sources.add_pandas(name="gate_counts").add_dataframe_asset(name=name)
                 .add_batch_definition_whole_dataframe("whole"))
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_suite"))
    for rule, _ in rules:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column=rule, min_value=0, max_value=0))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_validation", data=batch_def,
                                                                suite=suite))
    frame = pd.DataFrame([counts])
    items = _summarize(vd.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY"))
    for i in items:
        i["violations"] = counts.get(i["rule"], 0)
    rows = counts["row_count"]
    success = (all(i["success"] for i in items) and len(items) == len(rules)
               and all(counts[r] == 0 for r, _ in rules))
    failed = [r for r, _ in rules if counts[r] != 0]
    jpath, mpath = _write_report(out_dir, name, success, rows, items, meta)
    log.info("gate %s: %s, %d rules, %d failed, %d rows", name, "passed" if success else "FAILED",
             len(items), len(failed), rows)
    return GateResult(name, success, len(items), failed, rows, jpath, mpath)


def skipped(name: str, out_dir: Path, why: str) -> GateResult:
    """A gate with nothing to validate (e.g. no row of the file would be merged): recorded, passes."""
    jpath, mpath = _write_report(out_dir, name, True, 0, [], {"skipped": why})
    return GateResult(name, True, 0, [], 0, jpath, mpath)


def staged_batch(engine: sa.Engine, file_id: int, today: date, out_dir: Path) -> GateResult:
    """Validate the rows of ``file_id`` that the merge would write (decisions 'insert' and 'match')."""
    scope = "FROM patient_pipeline.import_decision WHERE file_id = :file_id AND disposition IN ('insert', 'match')"
    return _validate(engine, f"staged_file_{int(file_id)}", STAGED_RULES, scope, {"file_id": int(file_id)},
                     today, out_dir, {"file_id": int(file_id)})


def patients_table(engine: sa.Engine, account_ids: list[str], today: date, out_dir: Path,
                   name: str = "patients_after_import") -> GateResult:
    """Validate the patients of ``account_ids`` after the night's merges (the ids are one array bind)."""
    accounts = sorted(set(account_ids))
    return _validate(engine, name, PATIENT_RULES, "FROM patients WHERE account_id = ANY(:accounts)",
                     {"accounts": accounts}, today, out_dir, {"accounts": accounts})
