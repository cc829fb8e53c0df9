"""What one file's import leaves in the run folder: ``imports/file_<id>.json`` and ``.md`` (the
``FileResult`` of ``include/core/report_models.py``) and the ``.reason.json`` sidecar of a rejected or
held delivery. Ids, counts and reason codes only."""

from __future__ import annotations

import json
from typing import Any

from include.core import pipeline_dags, private_files, run_report
from include.core.report_models import FileResult
from include.imports import ledger, reasons


def run_dir(run_id: str) -> Any:
    """``<runs root>/clinic_patient_import/<run id>`` (the same layout as the migration's run folders): a
    ``Path`` or an ``ObjectStoragePath`` (see ``include/core/storage.py``)."""
    return run_report.run_dir(pipeline_dags.IMPORT.dag_id, run_id)


def result_from_ledger(row: ledger.LedgerRow, *, dry_run: bool = False) -> FileResult:
    return FileResult(
        source_id=row.source_id, file_id=row.file_id, status=row.status, reason_code=row.reason_code,
        reconciled=row.reconciled, gx_success=row.gx_success, duplicate_of=row.duplicate_of, dry_run=dry_run,
        reason_message=row.reason_message, file_name=row.file_name, **row.counts())


def _yes_no(value: bool | None) -> str:
    return "not checked" if value is None else ("yes" if value else "no")


def write_file_report(result: FileResult, run_id: str) -> str:
    """``<run>/imports/file_<id>.json`` and ``.md``: ids, counts and reason codes only."""
    out = private_files.ensure_dir(run_dir(run_id) / "imports")
    base = out / f"file_{result.file_id}"
    data = result.as_xcom()
    data.pop("report_path", None)
    private_files.write_text(base.with_suffix(".json"), json.dumps(data, indent=2, sort_keys=True, default=str))
    named = f"`{result.file_name}` (file {result.file_id}, {result.source_id})" if result.file_name else \
        f"file {result.file_id} ({result.source_id})"
    lines = [f"# Import of {named}", "",
             f"- status: **{result.status}**" + (f" (reason: `{result.reason_code}`)" if result.reason_code else ""),
             *([f"- why: {result.reason_message}"] if result.reason_message else []),
             f"- dry run: {_yes_no(result.dry_run)}", f"- reconciled: {_yes_no(result.reconciled)}",
             f"- GX gate passed: {_yes_no(result.gx_success)}",
             "", "| rows read | inserted | updated | unchanged | duplicates | quarantined | review items "
             "| rows with field issues | unsupported messages |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| {result.rows_read} | {result.inserted} | {result.updated} | {result.unchanged} | {result.duplicates} "
             f"| {result.quarantined} | {result.review_items} | {result.field_issue_rows} "
             f"| {result.unsupported_messages} |", ""]
    if result.quarantined_by_reason:
        lines += ["## Quarantined by reason", "", "| reason | rows | what to do |", "|---|---|---|",
                  *[f"| `{k}` | {v} | {reasons.help_for(k)} |" for k, v in sorted(result.quarantined_by_reason.items())],
                  "", "Each quarantined row keeps its record number and the field (CSV column, FHIR element "
                  "path or HL7 segment) in `patient_pipeline.import_quarantine`.", ""]
    if result.field_issues_by_field:
        lines += ["## Field issues (rows imported without the value)", "", "| field | reason | rows | what it means |",
                  "|---|---|---|---|",
                  *[f"| `{k.split(':', 1)[0]}` | `{k.split(':', 1)[1]}` | {v} | {reasons.help_for(k.split(':', 1)[1])} |"
                    for k, v in sorted(result.field_issues_by_field.items())], ""]
    if result.notes_by_code:
        lines += ["## Warnings (rows imported)", "", "| code | rows |", "|---|---|",
                  *[f"| `{k}` | {v} |" for k, v in sorted(result.notes_by_code.items())], ""]
    private_files.write_text(base.with_suffix(".md"), "\n".join(lines))
    return str(base.with_suffix(".json"))


def sidecar(result: FileResult) -> dict[str, object]:
    return {"file_id": result.file_id, "source_id": result.source_id, "status": result.status,
            "reason_code": result.reason_code, "reason_message": result.reason_message,
            "rows_read": result.rows_read, "quarantined": result.quarantined,
            "quarantined_by_reason": result.quarantined_by_reason, "field_issue_rows": result.field_issue_rows,
            "field_issues_by_reason": result.field_issues_by_reason}
