"""One clinic file, end to end: the file's state machine (what the ``clinic_patient_import`` DAG's
``import_file`` task calls; the night around it: ``include/imports/night.py``; its report:
``include/imports/file_report.py``).

Per file (docs/contracts/imports.md): fingerprint -> ledger (skip content already done) -> stream-parse + normalize ->
COPY into staging -> set-based decisions -> quarantine -> reject-ratio hold -> GX gate -> merge (bounded
chunks, one transaction each, reconciled at the end; see ``include.imports.merge``) -> report -> ledger
``done`` -> move to ``processed/`` (or ``rejected/``). Nothing here holds a lock an intake API call needs:
the per-source lock only keeps two deliveries of one source apart.
Each step is re-entrant through the ledger's status, so a killed task converges when re-run: a file found
``registered``/``staged`` is re-staged (staging rows of the old attempt are replaced by file_id) or
re-decided, a ``merged`` file is only reported and moved, a ``done`` file is a duplicate.

Everything logged, raised or returned here is PHI-free: ids, counts and reason codes.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings, storage
from include.core.db_errors import db_step
from include.core.report_models import FileResult
from include.imports import field_issues, gx_gate, landing, ledger, merge, quarantine, staging
from include.imports.errors import FileVanished, ImportPreconditionFailed, ImportStepFailed, SimulatedInterruption
from include.imports.file_report import result_from_ledger, run_dir, sidecar, write_file_report
from include.imports.records import FileRejected
from include.imports.sources import SourceConfig, load_sources

log = logging.getLogger(__name__)

#: Imports need patients.user_id (20250529) and the lock-safe patients indexes.
REQUIRED_REVISION = settings.REV_UPDATE_PATIENTS
#: Steps after which ``stop_after`` interrupts a run (tests simulate a killed task with it).
STEPS = ("stage", "decide", "merge")


# --------------------------------------------------------------------------------------------- helpers


def today_utc() -> date:
    return datetime.now(UTC).date()


def resolve_sources(source_ids: list[str] | None = None) -> list[SourceConfig]:
    """The configured sources, all or the listed ones (unknown ids are an error naming the known ones)."""
    sources = load_sources()
    if not source_ids:
        return list(sources.values())
    unknown = sorted(set(source_ids) - set(sources))
    if unknown:
        raise ImportPreconditionFailed(
            f"unknown clinic source id(s) {unknown}; configured: {sorted(sources)} (include/config/clinic_sources.yaml)")
    return [sources[s] for s in source_ids]


def preflight(conn: sa.Connection, sources: list[SourceConfig]) -> None:
    """The schema revision, the sources' accounts and default clinicians must exist (fail clearly)."""
    rev = alembic_driver.current_revision(conn)
    if alembic_driver.revision_index(rev) < alembic_driver.revision_index(REQUIRED_REVISION):
        raise ImportPreconditionFailed(
            f"clinic imports need alembic revision {REQUIRED_REVISION} or later; the database is at {rev or 'none'}. "
            "Run the patient_first_migration DAG (or `alembic upgrade`) first.")
    accounts = sorted({s.account_id for s in sources})
    found = set(conn.execute(sa.text("SELECT id FROM accounts WHERE id = ANY(:a)"), {"a": accounts}).scalars())
    missing = [a for a in accounts if a not in found]
    clinicians = sorted({s.default_clinician_id for s in sources if s.default_clinician_id})
    found_c = set(conn.execute(sa.text("SELECT id FROM users WHERE id = ANY(:c)"), {"c": clinicians}).scalars())
    conn.commit()
    if missing:
        raise ImportPreconditionFailed(
            f"account(s) {missing} of the configured clinic sources do not exist; create them in the application "
            "(or fix account_id in include/config/clinic_sources.yaml) and re-run.")
    missing_c = [c for c in clinicians if c not in found_c]
    if missing_c:
        raise ImportPreconditionFailed(
            f"default_clinician_id(s) {missing_c} do not exist in users; fix include/config/clinic_sources.yaml.")


def discover_files(source_ids: list[str] | None = None, landing_root: str | None = None) -> list[dict[str, str]]:
    """Files waiting in each source's ``incoming/``: ``[{"source_id", "path"}]`` in source, then name order
    (paths are full locations: ``s3://…`` or absolute). On a non-local executor a local landing or runs root
    that is not a declared shared volume is refused before anything is listed (``storage.require_shared``)."""
    found = []
    sources = resolve_sources(source_ids)
    storage.check_runs_root()
    for source in sources:
        storage.require_shared(
            landing.landing_for(source, landing_root), f"the landing of source {source.id}",
            "the DAG's landing_root Param, the Variable genascope_landing_root or the source's landing "
            "(include/config/clinic_sources.yaml)")
    for source in sources:
        for path in landing.incoming_files(source, landing_root):
            found.append({"source_id": source.id, "path": path})
    log.info("discovered %d file(s) for %d source(s)", len(found), len({f["source_id"] for f in found}))
    return found


# --------------------------------------------------------------------------------------------- one file


def import_file(engine: sa.Engine, source: SourceConfig, location: str, *, run_id: str,
                today: date | None = None, dry_run: bool = False, stop_after: str | None = None) -> FileResult:
    """Import one delivery of ``source`` found at ``location`` (see the module docstring)."""
    if stop_after is not None and stop_after not in STEPS:
        raise ValueError(f"stop_after must be one of {STEPS}")
    today = today or today_utc()
    with engine.connect() as conn:
        pipeline_schema.ensure(conn)
        preflight(conn, [source])
        with merge.source_lock(conn, source.id):
            return _import_locked(conn, engine, source, location, run_id, today, dry_run, stop_after)


def _import_locked(conn: sa.Connection, engine: sa.Engine, source: SourceConfig, location: str, run_id: str,
                   today: date, dry_run: bool, stop_after: str | None) -> FileResult:
    name = landing.as_path(location).name
    landing.check_delivery(location, source)  # before anything is read: no symlink, inside its landing
    if not landing.exists(location):
        row = ledger.latest_by_name(conn, source.id, name)
        conn.commit()
        if row is not None and row.status in ("done", "duplicate", "rejected", "held"):
            log.info("file %s was already handled (status %s); nothing to do", row.file_id, row.status)
            return result_from_ledger(row)
        raise FileVanished(
            f"a discovered file of source {source.id} is not in incoming/ as seen from worker "
            f"{storage.worker_host()}, and the ledger has no finished record of it (last ledger row: "
            f"{row.file_id if row else 'none'}). If the landing is a local folder, this worker cannot see the "
            "disk discover_files listed: put the landing on object storage (s3://…) or a volume every worker "
            "mounts; else check the landing folder, then clear this task to retry it.")

    fp = landing.fingerprint(location)  # O_NOFOLLOW: a symlink swapped in since the check fails here
    with db_step("register", source=source.id):
        reg = ledger.register(conn, source, name, str(location), fp.sha256, fp.size, run_id, dry_run=dry_run)
    row = reg.row
    log.info("file %s of source %s: ledger status %s%s (%d bytes)", row.file_id, source.id, row.status,
             " (resumed)" if reg.resumed else "", fp.size)

    if reg.extra.get("already_done"):  # dry run of content already imported
        return FileResult(source.id, None, "duplicate", duplicate_of=row.file_id, dry_run=True, file_name=name)
    if row.status == "duplicate":
        result = FileResult(source.id, row.file_id, "duplicate", reason_code="already_imported",
                            duplicate_of=row.duplicate_of, file_name=name)
        result.report_path = write_file_report(result, run_id)
        landing.move(location, "processed", row.file_id)
        return result

    file_id = row.file_id
    if row.status in ("registered", "staged", "dry_run"):
        outcome = _stage_decide_gate(conn, engine, source, location, row, run_id, today, dry_run, stop_after)
        if outcome is not None:
            return outcome
        row = _ledger_row(conn, file_id)
        if dry_run:
            return _finish_dry_run(conn, row, run_id)
        if stop_after == "merge":
            raise SimulatedInterruption(f"stopped after merge of file {file_id} (test)")
    return _finish(conn, source, location, _ledger_row(conn, file_id), run_id)


def _ledger_row(conn: sa.Connection, file_id: int) -> ledger.LedgerRow:
    row = ledger.get(conn, file_id)
    conn.commit()
    return row


def _stage(conn: sa.Connection, source: SourceConfig, location: str, row: ledger.LedgerRow, run_id: str,
           today: date, dry_run: bool) -> tuple[int, FileResult | None]:
    """Stream the file into staging unless its rows are staged already (a resumed attempt). Returns the rows
    read, and the result when the file is rejected as a whole (unreadable, empty, ...)."""
    file_id = row.file_id
    with db_step("check_staging", file_id=file_id):
        have = staging.staged_count(conn, file_id)
        conn.commit()
    rows_read = row.rows_read or 0
    if row.status != "staged" or have != (row.rows_staged or 0):
        from include.imports.readers import read_records

        stream = read_records(landing.reader_path(location), source)
        try:
            with db_step("stage", file_id=file_id):
                staged = staging.stage(conn, file_id, stream, source, today)
        except FileRejected as exc:
            return rows_read, _reject(conn, source, location, file_id, run_id, exc.reason_code, dry_run,
                                      exc.message)
        rows_read = staged.rows_read
        stats = getattr(stream, "stats", None)
        unsupported = int(getattr(stats, "unsupported_messages", 0) or 0)
        with db_step("ledger", file_id=file_id), conn.begin():
            ledger.update(conn, file_id, status=None if dry_run else "staged", rows_read=rows_read,
                          rows_staged=rows_read, unsupported_messages=unsupported)
        if unsupported:
            log.info("file %s: %d message(s) of unsupported types counted, not imported (%s)", file_id, unsupported,
                     ", ".join(f"{k} {v}" for k, v in sorted(stats.unsupported_types.items())))
        log.info("file %s: %d rows staged (%d flagged by the normalizer)", file_id, rows_read,
                 staged.rows_quarantined_by_normalizer)
    return rows_read, None


def _stage_decide_gate(conn: sa.Connection, engine: sa.Engine, source: SourceConfig, location: str,
                       row: ledger.LedgerRow, run_id: str, today: date, dry_run: bool,
                       stop_after: str | None) -> FileResult | None:
    """Stage (unless already staged), decide, quarantine, hold or gate, merge. Returns a result when the
    file ends here (rejected or held); None when it was merged (or counted, for a dry run)."""
    file_id = row.file_id
    rows_read, rejected = _stage(conn, source, location, row, run_id, today, dry_run)
    if rejected is not None:
        return rejected
    if stop_after == "stage":
        raise SimulatedInterruption(f"stopped after staging file {file_id} (test)")

    gx_gate.prewarm()  # import GX in the background while the server decides (Python is idle meanwhile)
    with db_step("decide", file_id=file_id), conn.begin():
        decided = merge.decide(conn, file_id, source)
        quarantined = quarantine.write(conn, file_id)
        issue_rows = field_issues.write(conn, file_id)
        ledger.update(conn, file_id, field_issue_rows=issue_rows)
    log.info("file %s: decisions %s, %d row(s) with field issues", file_id, decided, issue_rows)
    if decided.total != rows_read:
        raise merge.ReconciliationFailed(
            f"file {file_id}: {rows_read} rows read but {decided.total} rows decided; re-run the task to re-stage.")
    if stop_after == "decide":
        raise SimulatedInterruption(f"stopped after deciding file {file_id} (test)")

    # the reject ratio counts rows with a quarantine or a field issue (a wrong date format in every row
    # imports nothing usable either): a broken export is held back whole
    ratio = (quarantined + issue_rows) / rows_read if rows_read else 0.0
    if ratio > source.max_reject_ratio:
        log.warning("file %s: reject ratio %.3f above the source's max %.3f; holding the whole file back",
                    file_id, ratio, source.max_reject_ratio)
        message = (f"{quarantined} of {rows_read} rows quarantined and {issue_rows} imported with field issues: "
                   f"reject ratio {ratio:.3f} is above the source's max_reject_ratio {source.max_reject_ratio:.3f}. "
                   "Nothing was merged; see the quarantine and field-issue tables of the report (reason and "
                   "column of each row), fix the export or the source configuration, and re-deliver the file")
        return _hold(conn, source, location, file_id, run_id, "reject_ratio_exceeded", rows_read, decided, dry_run,
                     message)

    if decided.insert + decided.match:
        gate = gx_gate.staged_batch(engine, file_id, today, run_dir(run_id) / "gx")
    else:
        gate = gx_gate.skipped(f"staged_file_{file_id}", run_dir(run_id) / "gx", "no row of the file would be merged")
    with conn.begin():
        ledger.update(conn, file_id, gx_success=gate.success)
    if not gate.success:
        log.error("file %s: data-quality gate failed (%s); holding the file back", file_id, ", ".join(gate.failed))
        message = (f"the data-quality gate failed on the staged batch (expectations: {', '.join(gate.failed)}); "
                   "nothing was merged. See the GX report of the run, fix the export and re-deliver the file")
        return _hold(conn, source, location, file_id, run_id, "dq_gate_failed", rows_read, decided, dry_run, message)

    with db_step("merge", file_id=file_id):
        try:
            counts = merge.merge(conn, file_id, source, rows_read, commit=not dry_run)
        except merge.ReconciliationFailed:
            with conn.begin():
                ledger.update(conn, file_id, reconciled=False)
            raise
    if dry_run:
        with conn.begin():
            ledger.update(conn, file_id, reconciled=counts.balanced, **counts.as_dict())
    log.info("file %s: %s", file_id, counts.as_dict())
    return None


def _reject(conn: sa.Connection, source: SourceConfig, location: str, file_id: int, run_id: str,
            reason_code: str, dry_run: bool, message: str | None = None) -> FileResult:
    log.warning("file %s of source %s rejected as a whole: %s (%s)", file_id, source.id, reason_code, message)
    with db_step("reject", file_id=file_id), conn.begin():
        staging.discard(conn, file_id)
        ledger.update(conn, file_id, status="dry_run" if dry_run else "rejected", reason_code=reason_code,
                      reason_message=message, rows_read=0, finished=True)
    result = FileResult(source.id, file_id, "rejected", reason_code=reason_code, dry_run=dry_run,
                        reason_message=message, file_name=landing.as_path(location).name)
    return _report_and_move_rejected(conn, result, location, file_id, run_id, dry_run)


def _hold(conn: sa.Connection, source: SourceConfig, location: str, file_id: int, run_id: str, reason_code: str,
          rows_read: int, decided: merge.Decisions, dry_run: bool, message: str) -> FileResult:
    with db_step("hold", file_id=file_id), conn.begin():
        by_reason = quarantine.by_reason(conn, file_id)
        issues, issues_by_field = field_issues.by_reason(conn, file_id), field_issues.by_field(conn, file_id)
        notes = {r.code: int(r.n) for r in staging.run(conn, "notes_by_code", file_id=file_id)}
        staging.discard(conn, file_id)
        ledger.update(conn, file_id, status="dry_run" if dry_run else "held", reason_code=reason_code,
                      reason_message=message, rows_read=rows_read, quarantined=decided.quarantine,
                      duplicates=decided.duplicate, inserted=0, updated=0, unchanged=0, finished=True)
        row = ledger.get(conn, file_id)
    result = FileResult(source.id, file_id, "held", reason_code=reason_code, rows_read=rows_read,
                        quarantined=decided.quarantine, duplicates=decided.duplicate,
                        held_back=decided.insert + decided.match, quarantined_by_reason=by_reason, notes_by_code=notes,
                        dry_run=dry_run, field_issue_rows=int(row.field_issue_rows or 0), field_issues_by_reason=issues,
                        field_issues_by_field=issues_by_field, unsupported_messages=int(row.unsupported_messages or 0),
                        reason_message=message, file_name=row.file_name)
    _export_quarantine(conn, source, file_id, run_id)
    return _report_and_move_rejected(conn, result, location, file_id, run_id, dry_run)


def _report_and_move_rejected(conn: sa.Connection, result: FileResult, location: str, file_id: int, run_id: str,
                              dry_run: bool) -> FileResult:
    """A refused file's report, then (unless a dry run) the file into ``rejected/`` with its sidecar."""
    result.report_path = write_file_report(result, run_id)
    if not dry_run:
        new_location = landing.move(location, "rejected", file_id, sidecar(result))
        with conn.begin():
            ledger.update(conn, file_id, location=new_location, report_path=result.report_path)
    return result


def _export_quarantine(conn: sa.Connection, source: SourceConfig, file_id: int, run_id: str) -> None:
    dest = run_dir(run_id) / "imports" / f"file_{file_id}_quarantine.csv"
    export = quarantine.export_csv(conn, file_id, dest, source.quarantine_formula_prefixes)
    if export.rows == 0:
        storage.path(export.path).unlink(missing_ok=True)


def _file_details(conn: sa.Connection, result: FileResult) -> None:
    """Fill the per-reason breakdowns of ``result`` (quarantine, warnings, field issues) from the database."""
    file_id = result.file_id
    with conn.begin():
        result.quarantined_by_reason = quarantine.by_reason(conn, file_id)
        result.notes_by_code = {r.code: int(r.n) for r in staging.run(conn, "notes_by_code", file_id=file_id)}
        result.field_issues_by_reason = field_issues.by_reason(conn, file_id)
        result.field_issues_by_field = field_issues.by_field(conn, file_id)


def _finish_dry_run(conn: sa.Connection, row: ledger.LedgerRow, run_id: str) -> FileResult:
    result = result_from_ledger(row, dry_run=True)
    _file_details(conn, result)
    result.report_path = write_file_report(result, run_id)
    with conn.begin():
        staging.discard(conn, row.file_id)
        ledger.update(conn, row.file_id, report_path=result.report_path, finished=True)
    return result


def _finish(conn: sa.Connection, source: SourceConfig, location: str, row: ledger.LedgerRow,
            run_id: str) -> FileResult:
    """A merged file: report, quarantine export, ledger ``done``, staging cleanup, move to processed/."""
    if row.status != "merged":
        raise ImportStepFailed(f"file {row.file_id} is in status {row.status}, expected merged; re-run the task.")
    result = result_from_ledger(row)
    result.status = "done"
    _file_details(conn, result)
    _export_quarantine(conn, source, row.file_id, run_id)
    result.report_path = write_file_report(result, run_id)
    with db_step("finish", file_id=row.file_id), conn.begin():
        staging.discard(conn, row.file_id)
        ledger.update(conn, row.file_id, status="done", report_path=result.report_path, finished=True)
    new_location = landing.move(location, "processed", row.file_id)
    with conn.begin():
        ledger.update(conn, row.file_id, location=new_location)
    log.info("file %s done: %s", row.file_id, {k: v for k, v in result.as_xcom().items()
                                               if k in ledger.COUNT_FIELDS})
    return result


# --------------------------------------------------------------------------------------------- the night


def import_file_task(engine: sa.Engine, source_id: str, path: str, *, run_id: str, dry_run: bool = False,
                     today: date | None = None) -> dict[str, Any]:
    """The DAG's mapped task body: one file by source id; returns the XCom (ids and counts)."""
    (source,) = resolve_sources([source_id])
    return import_file(engine, source, path, run_id=run_id, today=today, dry_run=dry_run).as_xcom()
