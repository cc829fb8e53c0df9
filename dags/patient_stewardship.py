"""
# patient_stewardship

Act on what the pipeline could not decide alone: the review queues of the backfill and the imports,
the quarantined rows of the imports, and import files that passed the gates but were wrong. One action
per run, chosen in the **Params form**; the same actions are on the CLI (`python -m include.cli steward …`).

**Trigger by hand only.** One run at a time; it holds the pipeline lease shared with
`patient_first_migration`, `patient_first_rollback` and `clinic_patient_import`: while one of them runs,
this run waits up to the Variable `genascope_lease_wait_seconds` (default 600), then fails naming the
holder. Nothing changed.

## Actions
- **merge** (`survivor_id` ← `merged_id`, optionally the review `items` it settles): invites, chat sessions
  and the user link move to the survivor; the survivor's empty fields are filled (never overwritten);
  the merged patient becomes `archived` (pointer: `patient_pipeline.patient_merged_into`). Refused with
  a reason when the two have different users or accounts.
- **unmerge** (`merge_action_id`, or `merged_id`): restores exactly what the merge changed; refused
  (`changed_since_merge`) when either patient changed after the merge.
- **keep_separate** (one review item key in `items`, or two ids in `patients`): the pair is remembered;
  later imports and backfills never queue it again.
- **dismiss** (review item keys in `items`): resolved, nothing else changes.
- **export_worklist** (`file_id`, `source_id` and/or `night`): the open quarantine rows (and field issues)
  as an owner-only CSV (mode 0600) in this run's folder, formulas neutralized. **It holds PHI.**
- **replay_corrections** (`input_file`: a CSV keyed by `file_id` + `record_no` with corrected columns,
  e.g. the edited worklist): imported through the normal import path as a new ledger entry linked to the
  original (`replay_of`); the original rows are resolved with a pointer to the new file and record.
- **undo_import** (`file_id`): every field the file changed goes back to its previous value; the patients
  it created that nothing links to yet are removed, the others are listed and kept; the ledger row becomes
  `undone` (the same bytes can then be imported again).
- **undo_action** (`target_action_id`): takes back a merge, keep_separate, dismiss or replay.
- **decisions** (`input_file`: JSON list or CSV of merge / unmerge / keep_separate / dismiss decisions).
- **identity_match** (`account_id`, empty = every account; `match_mode` full or incremental): the
  probabilistic matcher on demand (docs/identity.md); it only proposes `match:<pair_id>` review items.

Review item keys look like `import:<review_id>`, `backfill:<entity>:<id>:<reason>` or `match:<pair_id>`
(every kind: the view `patient_pipeline.review_queue`);
`python -m include.cli steward list review` prints the open ones (ids and counts only).

## Which fields each action needs (everything else stays empty)
| action | fill in |
|---|---|
| dismiss | Review item keys |
| keep_separate | one Review item key, or Two patient ids |
| merge | Survivor patient id, Merged patient id (Review item keys optional) |
| unmerge | Merge action id, or Merged patient id |
| export_worklist | Import file id, Clinic source id and/or Night |
| replay_corrections, decisions | Decisions / corrections file |
| undo_import | Import file id |
| undo_action | Action to undo |
| identity_match | Account id (empty = every account), Matcher pass |

Every id field is optional in the form (empty = not set; a lone `-` counts as empty too), so the form can
be submitted with only what the action needs; a missing one is refused by `validate_request` with the
field it needs, before the database is touched, and the run's **Report** tab says so.

## Params
- **action**, and the ids it needs (above). `input_file` must be a regular file under the runs root
  (`genascope_runs_dir`), the Variable `genascope_landing_root` or a configured landing location.
- **dry_run** (default *on*): the exact outcome is computed, reported and rolled back.
- **confirm**: a real run of a destructive action needs its word: `MERGE`, `UNMERGE`, `UNDO_IMPORT`,
  `REPLAY`, `UNDO`, `APPLY` (decisions file). Anything else fails at once, before the database is touched.
- **actor** (optional): who asked for the change, when the run was triggered by automation; the action
  log records the triggering user of the run, else this.

## Report and log
Every action is recorded in `patient_pipeline.steward_action` (who, what, when; ids and counts only),
refusals and dry runs too. `runs/patient_stewardship/<run_id>/report.{json,md}`: the request, each
result (status, reason code, counts, ids) and what is still open (review items by kind, quarantine
rows). Logs and XComs hold ids, counts and reason codes only.

## Recovery
A refused action changed nothing (its reason is in the report); fix the cause or choose another action.
A failed task changed nothing of the action that failed (one transaction each); re-trigger the run.
Every applied action can be looked up (`python -m include.cli steward list actions`) and taken back
with `undo_action` where that makes sense (an undone import is re-imported by delivering the file again).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context

from include import notify
from include.core import pipeline_dags, run_lifecycle
from include.core.dag_support import DEFAULT_ARGS, SAFETY_SECTION, fail_without_retry, task

DAG_ID = pipeline_dags.STEWARDSHIP.dag_id
ACTION_SECTION = "Action"
IDS_SECTION = "Review items and patients"
FILES_SECTION = "Import files and worklists"
ACTIONS = ["merge", "unmerge", "keep_separate", "dismiss", "export_worklist", "replay_corrections",
           "undo_import", "undo_action", "decisions", "identity_match"]


def _request() -> dict:
    return dict(get_current_context()["params"])


def _run_id() -> str:
    return get_current_context()["run_id"]


def _context(dry_run: bool):
    from include.stewardship.actions import Context

    ctx = get_current_context()
    dag_run = ctx["dag_run"]
    actor = (getattr(dag_run, "triggering_user_name", None) or (dag_run.conf or {}).get("actor")
             or ctx["params"].get("actor") or "airflow")
    return Context(actor=str(actor), origin="dag", dag_run_id=ctx["run_id"], dry_run=dry_run)


@dag(
    dag_id=DAG_ID,
    dag_display_name=pipeline_dags.STEWARDSHIP.display_name,
    description="Act on what the pipeline found: merge, unmerge, keep separate, dismiss, worklists, replay, undo an import.",
    schedule=None,
    start_date=pendulum.datetime(2025, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genascope", "stewardship", "patients"],
    doc_md=__doc__,
    default_args=notify.default_args(DAG_ID, {**DEFAULT_ARGS, "retries": 0}),
    params={
        "action": Param("merge", type="string", enum=ACTIONS, title="Action",
                        description="What to do (see the DAG docs for each action's ids).", section=ACTION_SECTION),
        # Every id is optional (type ["null", …], default None: empty means "not set"): the form can be
        # submitted with only what the chosen action needs (see "Which fields each action needs" above).
        "items": Param(None, type=["null", "array"], items={"type": "string"}, title="Review item keys",
                       description="dismiss, merge, keep_separate: one key per line, import:<review_id>, "
                                   "backfill:<entity>:<id>:<reason> or match:<pair_id> (keep_separate: one).",
                       section=IDS_SECTION),
        "survivor_id": Param(None, type=["null", "string"], title="Survivor patient id",
                             description="merge: the patient kept.", section=IDS_SECTION),
        "merged_id": Param(None, type=["null", "string"], title="Merged patient id",
                           description="merge: the patient archived into the survivor; unmerge: its open merge.",
                           section=IDS_SECTION),
        "patients": Param(None, type=["null", "array"], items={"type": "string"}, title="Two patient ids",
                          description="keep_separate without a review item: two ids, one per line.",
                          section=IDS_SECTION),
        "merge_action_id": Param(None, type=["null", "integer"], minimum=1, title="Merge action id",
                                 description="unmerge: the merge's action id (empty = use merged_id).",
                                 section=IDS_SECTION),
        "file_id": Param(None, type=["null", "integer"], minimum=1, title="Import file id",
                         description="undo_import, export_worklist: the import ledger's file id.",
                         section=FILES_SECTION),
        "source_id": Param(None, type=["null", "string"], title="Clinic source id", description="export_worklist.",
                           section=FILES_SECTION),
        "night": Param(None, type=["null", "string"], title="Night (YYYY-MM-DD)",
                       description="export_worklist: files registered on that UTC date.", section=FILES_SECTION),
        "input_file": Param(None, type=["null", "string"], title="Decisions / corrections file",
                            description="replay_corrections, decisions: a path or URI under the runs root or a "
                                        "landing location.", section=FILES_SECTION),
        "target_action_id": Param(None, type=["null", "integer"], minimum=1, title="Action to undo",
                                  description="undo_action: a stewardship action id.", section=IDS_SECTION),
        "account_id": Param(None, type=["null", "string"], title="Account id",
                            description="identity_match: one account (empty = every account).", section=IDS_SECTION),
        "match_mode": Param("full", type="string", enum=["full", "incremental"], title="Matcher pass",
                            description="identity_match: full, or only patients changed since the last pass.",
                            section=IDS_SECTION),
        "dry_run": Param(True, type="boolean", title="Dry run",
                         description="Compute and report the exact outcome, then roll it back.",
                         section=SAFETY_SECTION),
        "confirm": Param("", type=["null", "string"], title="Confirm",
                         description="A real destructive action needs its word: MERGE, UNMERGE, UNDO_IMPORT, "
                                     "REPLAY, UNDO, APPLY.", section=SAFETY_SECTION),
        "actor": Param(None, type=["null", "string"], title="Requested by",
                       description="Recorded as the actor when the run has no triggering user.",
                       section=SAFETY_SECTION),
    },
)
def patient_stewardship():
    @task(retries=0, pool="default_pool")
    def validate_request() -> dict:
        """The action, its ids and the confirmation; reads no database."""
        from include.core.errors import ConfirmationMissing
        from include.stewardship.errors import StewardshipError
        from include.stewardship.request import Request, validate

        try:
            req = Request.from_params(_request())
            validate(req)
        except (StewardshipError, ConfirmationMissing) as exc:
            fail_without_retry(exc)
        return req.as_dict()

    @task(retries=0)
    def run_action() -> list[dict]:
        """One transaction per action (a dry run is rolled back); refusals are recorded and fail the task."""
        from airflow.sdk import Variable

        from include.core.db import app_engine
        from include.core.errors import ConfirmationMissing
        from include.stewardship.dispatch import execute
        from include.stewardship.errors import StewardshipError
        from include.stewardship.request import Request

        run_lifecycle.check_lease()
        engine = app_engine()
        req = Request.from_params(_request())
        landing_root = Variable.get("genascope_landing_root", default=None)
        try:
            results = [r.as_dict() for r in execute(engine, req, _context(req.dry_run), _run_id(),
                                                    [landing_root] if landing_root else None)]
        except (StewardshipError, ConfirmationMissing) as exc:
            fail_without_retry(exc)
        get_current_context()["ti"].xcom_push(key="results", value=results)
        refused = [r for r in results if r["status"] == "refused"]
        if refused:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"{len(refused)} of {len(results)} action(s) refused: "
                + ", ".join(f"{r['action']} ({r['reason_code']})" for r in refused) + "; see the run report")
        return results

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=1)
    def write_run_report() -> str:
        from include.core import failures
        from include.core.db import app_engine
        from include.stewardship.errors import StewardshipError
        from include.stewardship.report import write_report
        from include.stewardship.request import Request

        ti = get_current_context()["ti"]
        found = failures.collect_run(ti)
        try:
            req = Request.from_params(_request())
        except StewardshipError:  # validate_request failed on it: its reason is in ``found``
            req = Request(action=str(_request().get("action") or ""))
        results = ti.xcom_pull(task_ids="run_action", key="results") or []
        why = "; ".join(f"{f['reason_code']}: {f['message']}" for f in found)
        return write_report(app_engine(), _run_id(), req, _context(req.dry_run), results,
                            error=None if results else f"no action ran ({why or 'see the failed task log'})",
                            failures=found)

    checked = validate_request()
    lease = run_lifecycle.acquire_task()
    action = run_action()
    report = write_run_report()
    checked >> lease >> action
    [checked, action] >> report
    # the watcher does not hang off the lease (a setup's direct downstream is all_success): a failed lease
    # leaves run_action upstream_failed, which the watcher sees
    run_lifecycle.tail(lease, action, report=report, watch=[checked, action], what="stewardship run")


dag = patient_stewardship()
