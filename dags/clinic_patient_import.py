"""
# Nightly clinic patient import (`clinic_patient_import`)

**What it does.** Imports the patient files that clinics drop into their landing folders (CSV exports,
FHIR R4 Bulk Data NDJSON, HL7 v2 ADT) into `patients`, so invites can be sent to patients that already
exist. Sources are configuration: `include/config/clinic_sources.yaml`.

**When.** Every night at 02:00 UTC (`0 2 * * *`), no catch-up, one run at a time, **once the DAG is
unpaused** (Airflow creates DAGs paused: `make airflow` says so, and the "Patient pipeline" page warns while
this DAG is paused; turn it on with its toggle or `airflow dags unpause clinic_patient_import`). Trigger it by
hand after a clinic re-sends a file, or with `dry_run` to see what a file would do (a paused DAG runs
nothing: the trigger form's "Unpause on trigger" unpauses it, which also lets the scheduler start the night
that is due; that run may take the files before yours, and your run's report then says "discovered 0 files"
and names the run that took them).

**Steps.**
1. `acquire_pipeline_lease`: the lease shared with the other pipeline DAGs (waits up to the Variable
   `genascope_lease_wait_seconds`, default 10 min, then fails naming the holder).
2. `discover_files`: the files in each source's `incoming/` (source id + path only).
3. `import_file` (one mapped task per file, pool `genascope_db`): ledger (SHA-256: the same bytes are never
   imported twice) → streaming parse + normalize → `COPY` into staging → set-based validation
   (in-file duplicates, identity conflicts) → quarantine → reject-ratio hold → Great Expectations gate →
   merge (same external id, else same e-mail + first name → update; else new `pending` patient; name + DOB
   look-alikes go to the review queue) → reconciliation (`rows read = inserted + updated + unchanged +
   duplicates + quarantined`, else the task fails and nothing is merged) → file moved to `processed/` or,
   held back / rejected, to `rejected/` with a `<name>.reason.json`.
4. `night_summary`: per source files, rows, inserted, updated, unchanged, duplicates, quarantined by reason;
   validates `patients` with GX; writes `<runs root>/clinic_patient_import/<run_id>/night_summary.{json,md}`. Updates the asset
   `genascope_patients_clinic_import`.
5. `match_identities`: the probabilistic matcher (docs/identity.md) over the accounts the night touched,
   scoring the night's new and changed patients against their whole account; probable duplicates go to
   the review queue (`patient_pipeline.review_queue`, `match:<pair_id>`), never merged automatically.
6. `release_pipeline_lease` (teardown: runs whatever happened before).
7. `night_needs_attention` (runs whatever happened before): held or rejected files, a source above its
   quarantine or field-issue threshold, an expected source with nothing in `incoming/`, a failed gate ->
   one message to the on-call channels and, if configured, this task fails so the grid shows the night.
   It also sends the night's metrics. A run not finished by 06:00 UTC sends a deadline message; a failed
   task sends its own. Settings: docs/operating-alerts.md.

Reports (per file JSON/markdown, GX results, quarantine CSVs for the clinics with formulas neutralized) are
in `<runs root>/clinic_patient_import/<run_id>/`. Logs and XComs carry ids, counts and reason codes only.
The run's **Report** tab in the Airflow UI shows the night (per source counts, quarantine and field issues
by reason, per-file reports, GX results); quarantine exports there need edit access on this DAG (PHI).

**Approvals.** None: an import changes nothing irreversible (the same bytes never import twice, a held
file is moved aside, never merged), so it runs unattended every night. The migration and the rollback
ask for approval before their irreversible steps (see their docs).

**Params.**
- `source_ids`: clinic source ids to import, one per line (empty = all configured sources).
- `landing_root`: a folder or object-storage URI that replaces the parent of every source's landing folder
  (`<landing_root>/<clinic folder>/incoming`). Empty = the Airflow Variable `genascope_landing_root` if set,
  else each source's configured `landing`. `airflow_settings.yaml` sets the Variable to `landing/` (relative
  paths start at the project root), where `make airflow` and `make demo` lay copies of the sample files:
  the DAG moves what it imports, so it must never point at the repository's own samples.
- `dry_run`: stage, validate and count, then roll the merge back; nothing is merged and no file is moved.

**How to recover.**
- A failed `import_file` task: clear it. The ledger (`patient_pipeline.import_file`) resumes the file where
  it stopped (re-staging an unfinished attempt, never merging twice).
- A file held back (`reject_ratio_exceeded`, `dq_gate_failed`) or rejected (`empty_file`,
  `unreadable_encoding`, ...): see `rejected/<name>.reason.json` and the quarantine CSV in the run folder;
  have the clinic fix and re-send it, or move it back to `incoming/` after raising the source's
  `max_reject_ratio` deliberately.
- `import_file` failed with `FileVanished` (the message names the worker host): the delivery that
  `discover_files` listed is not in `incoming/` as that worker sees it. On CeleryExecutor/KubernetesExecutor
  the landing and the runs root must be object storage (`s3://…`; `discover_files` refuses local ones);
  otherwise the file was moved away meanwhile: check the landing, then clear the task.
- `acquire_pipeline_lease` failed: another pipeline DAG holds the lease; let it finish, then re-trigger.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag

from include import notify
from include.core import pipeline_dags, run_lifecycle, settings
from include.core.dag_support import task

DAG_ID = pipeline_dags.IMPORT.dag_id
PATIENTS_IMPORTED = Asset(name="genascope_patients_clinic_import", uri="genascope://app-db/patients/clinic-import")
LANDING_ROOT_VARIABLE = "genascope_landing_root"


def _run_ids() -> tuple[str, str]:
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    return ctx["dag"].dag_id, ctx["run_id"]


@dag(
    dag_id=DAG_ID,
    dag_display_name=pipeline_dags.IMPORT.display_name,
    description="Imports the patient files clinics drop into their landing folders (CSV, FHIR NDJSON, HL7 v2), "
                "every night at 02:00 UTC.",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genascope", "imports", "patients"],
    doc_md=__doc__,
    default_args=notify.default_args(DAG_ID, {"retries": 2, "retry_delay": timedelta(minutes=2)}),
    deadline=notify.import_deadline(),
    params={
        # type ["null", …] with default None: empty means "not set", so the form can be submitted as it is
        "source_ids": Param(None, type=["null", "array"], items={"type": "string"}, title="Clinic sources",
                            description="Source ids from clinic_sources.yaml, one per line; empty imports all of them.",
                            section="What to import"),
        "landing_root": Param(None, type=["null", "string"], title="Landing root override",
                              description="Folder or URI replacing the parent of each source's landing folder; "
                                          "empty = Variable genascope_landing_root, else the configured landing.",
                              section="What to import"),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Stage, validate and count only: nothing is merged, no file is moved.",
                         section="Safety"),
    },
)
def clinic_patient_import():
    @task
    def discover_files(params: dict | None = None) -> list[dict[str, str]]:
        from airflow.sdk import Variable

        from include.core.dag_support import fail_without_retry
        from include.imports import file_import
        from include.imports.sources import SourceConfigError

        root = params["landing_root"] or Variable.get(LANDING_ROOT_VARIABLE, default=None)
        try:
            return file_import.discover_files(params["source_ids"] or None, root or None)
        except SourceConfigError as exc:  # the sources document is broken: a retry cannot fix it
            fail_without_retry(exc)

    @task(pool=settings.APP_DB_POOL, max_active_tis_per_dagrun=1)
    def import_file(file: dict[str, str], params: dict | None = None) -> dict:
        from include.core.db import app_engine
        from include.imports import file_import

        run_lifecycle.check_lease()
        _, run_id = _run_ids()
        return file_import.import_file_task(app_engine(), file["source_id"], file["path"], run_id=run_id,
                                         dry_run=bool(params["dry_run"]))

    @task(pool=settings.APP_DB_POOL, trigger_rule="none_failed", outlets=[PATIENTS_IMPORTED])
    def night_summary(results: list[dict], params: dict | None = None) -> dict:
        from include.core.db import app_engine
        from include.imports import night
        from include.notify import assets

        _, run_id = _run_ids()
        summary = night.night_summary(app_engine(), run_id, params["source_ids"] or None).as_xcom()
        assets.attach_night_counts(summary)
        return summary

    @task(pool=settings.APP_DB_POOL, retries=1)
    def match_identities(params: dict | None = None) -> dict:
        from include.core.db import app_engine
        from include.identity import steps as identity_steps

        dag_id, run_id = _run_ids()
        if params["dry_run"]:
            return {"state": "skipped", "reason": "dry_run"}
        return identity_steps.after_import_night(app_engine(), dag_id, run_id)

    lease = run_lifecycle.acquire_task()
    files = discover_files()
    imported = import_file.expand(file=files)
    summary = night_summary(imported)
    matched = match_identities()
    lease >> files
    summary >> matched
    release = run_lifecycle.tail(lease, matched)  # no watcher: night_needs_attention below keeps the night red

    @task(pool=settings.APP_DB_POOL, trigger_rule="all_done", retries=0)
    def night_needs_attention(params: dict | None = None) -> dict:
        from include.notify import night

        return night.check_night_task(params["source_ids"] or None, dry_run=bool(params["dry_run"]))

    release >> night_needs_attention()


dag = clinic_patient_import()
