"""Why a task failed, where the run's Report tab can show it: a reason code and the exception's message.

Every task of this project is declared with :func:`include.core.dag_support.task`, whose body runs inside
:func:`recording`: when the body raises (anything but a skip), the task pushes the XCom key
:data:`FAILURE_KEY` = ``{"task_id", "reason_code", "message"}`` before the exception propagates. The
report writers of the DAGs and the plugin's Report tab read it, so a failed or refused run says why on
the tab and not only in a task log. Airflow clears a task's XComs when it is tried again, so what is
there belongs to the last try.

Messages of this project's exceptions carry ids, counts and reason codes only (the project's rule for
every exception); the message is cut at :data:`MAX_MESSAGE` characters all the same.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

FAILURE_KEY = "failure"
MAX_MESSAGE = 600

_SKIPS = ("AirflowSkipException", "TaskDeferred", "DownstreamTasksSkipped", "AirflowRescheduleException")


def reason_code(exc: BaseException) -> str:
    """A stable, short code for ``exc``: its own ``reason_code``/``code`` attribute when it has a string one,
    else the snake_case name of its class (of the cause, for a re-raised ``AirflowFailException``)."""
    for attr in ("reason_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]{1,60}", value):
            return value
    if type(exc).__name__ == "AirflowFailException" and exc.__cause__ is not None:
        return reason_code(exc.__cause__)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def describe(exc: BaseException, task_id: str) -> dict[str, str]:
    message = " ".join(str(exc).split()) or type(exc).__name__
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return {"task_id": task_id, "reason_code": reason_code(exc), "message": message}


def _push(record: dict[str, str]) -> None:
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        ti.xcom_push(key=FAILURE_KEY, value={**record, "task_id": ti.task_id})
    except Exception as exc:  # outside a task (unit tests, CLI): nothing to push to; the exception still propagates
        log.debug("failure not recorded as XCom: %s", type(exc).__name__)


def recording(task_id: str) -> Callable[[F], F]:
    """Decorator: push :data:`FAILURE_KEY` when the body raises (skips and deferrals are not failures)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                if type(exc).__name__ not in _SKIPS and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    _push(describe(exc, task_id))
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def collect(ti: Any, task_ids: list[str]) -> list[dict[str, str]]:
    """The failures recorded by ``task_ids`` in this run (inside a task: the report writers)."""
    out: list[dict[str, str]] = []
    for task_id in task_ids:
        value = ti.xcom_pull(task_ids=task_id, key=FAILURE_KEY)
        values = value if isinstance(value, list) else [value]
        out += [v for v in values if isinstance(v, dict) and v.get("reason_code")]
    return out


def collect_run(ti: Any, dag: Any = None) -> list[dict[str, str]]:
    """Every failure recorded in this run so far, in the DAG's task order, without the watcher's own
    ("a step failed": it says nothing the others do not)."""
    if dag is None:
        from airflow.sdk import get_current_context

        dag = get_current_context()["dag"]
    task_ids = [t for t in dag.task_ids if t != WATCHER_TASK_ID]
    return collect(ti, task_ids)


#: The leaf task that keeps a run red (``include.core.dag_support.fail_run_if_any_step_failed``).
WATCHER_TASK_ID = "fail_run_if_any_step_failed"


def status_with_reason(status: str, failures: list[dict[str, str]]) -> str:
    """``failed`` / ``incomplete`` become ``failed: <reason_code> in <task>`` when a task said why."""
    if not failures or status not in ("failed", "incomplete"):
        return status
    first = failures[0]
    return f"failed: {first['reason_code']} in {first['task_id']}"


def add_to_sections(sections: dict[str, Any], found: list[dict[str, str]]) -> None:
    """Why the run failed or was refused (reason code + message per failed task), in the report and its status."""
    sections["failures"] = found
    sections["status"] = status_with_reason(sections["status"], found)
