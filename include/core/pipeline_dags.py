"""The registry of the pipeline's DAGs: one place for each DAG's id, display name, kind, report file and
phases (the runbook's steps, i.e. its task groups or top-level tasks in order). The DAG files, the steps
that write the reports, the UI that reads them and the alerts all take these from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineDag:
    dag_id: str
    #: Which report model and Report tab section the run has (include/core/report_models.py).
    kind: str
    display_name: str
    #: The run folder's main report (``<runs root>/<dag_id>/<run_id>/<report_file>``).
    report_file: str
    #: The runbook's steps in order: task group ids, else top-level task ids.
    phases: tuple[str, ...]


MIGRATION = PipelineDag(
    "patient_first_migration", "migration", "Patient-first migration", "report.json",
    ("preflight", "approval", "schema", "backfill", "gates", "finalize", "write_run_report"))
ROLLBACK = PipelineDag(
    "patient_first_rollback", "rollback", "Patient-first rollback", "report.json",
    ("preflight", "approval", "archive", "downgrade", "verify", "write_run_report"))
IMPORT = PipelineDag(
    "clinic_patient_import", "import", "Nightly clinic patient import", "night_summary.json",
    ("acquire_pipeline_lease", "discover_files", "import_file", "night_summary", "match_identities",
     "night_needs_attention"))
STEWARDSHIP = PipelineDag(
    "patient_stewardship", "stewardship", "Patient stewardship", "report.json",
    ("validate_request", "acquire_pipeline_lease", "run_action", "write_run_report"))
HOUSEKEEPING = PipelineDag(
    "pipeline_housekeeping", "housekeeping", "Pipeline housekeeping (retention of PHI)", "report.json",
    ("acquire_pipeline_lease", "sweep_database", "sweep_files", "write_run_report"))

ALL: tuple[PipelineDag, ...] = (MIGRATION, ROLLBACK, IMPORT, STEWARDSHIP, HOUSEKEEPING)
BY_ID: dict[str, PipelineDag] = {d.dag_id: d for d in ALL}
DAG_IDS: tuple[str, ...] = tuple(BY_ID)


def get(dag_id: str) -> PipelineDag | None:
    """The registered DAG, or None for a DAG id that is not one of the pipeline's."""
    return BY_ID.get(dag_id)


__all__ = ["ALL", "BY_ID", "DAG_IDS", "HOUSEKEEPING", "IMPORT", "MIGRATION", "ROLLBACK", "STEWARDSHIP", "PipelineDag",
           "get"]
