"""Nights nobody watches: notifications (failed tasks, nights that need attention, waiting approvals,
missed deadlines) through Airflow's notifiers, and the night's counts on its asset event.

What the DAG files use (wiring only):

- :func:`default_args` -> ``@dag(default_args=notify.default_args(DAG_ID, {...}))``: every task gets the
  failure notifier and an ``execution_timeout``; every HITL approval task gets the approval notifier and
  its ``assigned_users``;
- :func:`import_deadline` -> ``@dag(deadline=notify.import_deadline())``;
- :func:`include.notify.night.check_night_task` -> the body of the import's last task;
- :func:`include.notify.assets.attach_night_counts` -> one call in the night summary task.

Settings: the Variable ``genascope_notifications`` (:mod:`include.notify.settings`). Metrics live in
:mod:`include.core.metrics` (every area emits them). Reference: docs/operating-alerts.md.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from include.core import pipeline_dags

#: Per-task ``execution_timeout`` by DAG (a DAG's or a task's own value wins): longest healthy run x ~3,
#: below the pipeline lease's 6 h TTL so a hung task is stopped before the lease expires under it.
EXECUTION_TIMEOUTS: dict[str, timedelta] = {
    pipeline_dags.IMPORT.dag_id: timedelta(hours=2),
    pipeline_dags.MIGRATION.dag_id: timedelta(hours=5),
    pipeline_dags.ROLLBACK.dag_id: timedelta(hours=3),
    pipeline_dags.STEWARDSHIP.dag_id: timedelta(hours=1),
    pipeline_dags.HOUSEKEEPING.dag_id: timedelta(hours=1),
}
#: Hours after its logical date by which the import must be finished (02:00 UTC + 4 h = 06:00 UTC); read
#: when the DAG is parsed. 0 = no Deadline Alert: the tests set it, because ``dag.test()`` of Airflow 3.3.2
#: cannot finish a successful run of a DAG with a Deadline Alert (it looks the alerts up by an id that only
#: the DAG processor stores).
IMPORT_DEADLINE_ENV = "GENASCOPE_IMPORT_DEADLINE_HOURS"
DEFAULT_IMPORT_DEADLINE_HOURS = 4.0


def default_args(dag_id: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` plus the notifiers and the execution timeout of ``dag_id``'s tasks."""
    from include.notify.callbacks import ApprovalNotifier, TaskFailureNotifier

    args = dict(base or {})
    args.setdefault("on_failure_callback", [TaskFailureNotifier()])
    args.setdefault("execution_timeout", EXECUTION_TIMEOUTS.get(dag_id, timedelta(hours=2)))
    # HITL operators take these two from default_args (other operators have no such argument)
    args.setdefault("notifiers", [ApprovalNotifier()])
    users = approvers(dag_id)
    if users:
        args.setdefault("assigned_users", users)
    return args


def approvers(dag_id: str) -> list[dict[str, str]]:
    """The Airflow users who may answer ``dag_id``'s approvals (``approvers`` of the Variable), read when the
    DAG is parsed; empty (anyone with access) when unset or unreadable."""
    from include.notify.settings import NotificationSettingsError, load

    try:
        return [u.model_dump() for u in load().approvers.get(dag_id, [])]
    except NotificationSettingsError:  # a broken Variable must not break parsing; tasks report it
        return []


def import_deadline() -> Any:
    """The Deadline Alert of ``clinic_patient_import``: not finished ``GENASCOPE_IMPORT_DEADLINE_HOURS`` (4)
    after its logical date (02:00 UTC) -> one ``deadline_missed`` message (the triggerer runs the callback).
    ``None`` (no alert) when the setting is 0."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    from include.notify.callbacks import deadline_missed

    hours = float(os.environ.get(IMPORT_DEADLINE_ENV, str(DEFAULT_IMPORT_DEADLINE_HOURS)))
    if hours <= 0:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=timedelta(hours=hours),
                         callback=AsyncCallback(deadline_missed, kwargs={"deadline": f"finished_within_{hours:g}h"}),
                         name=f"import_finished_within_{hours:g}h")
