"""The notifiers every task of the pipeline's DAGs carries (through ``default_args``, see
:func:`include.notify.default_args`), and the Deadline Alert callback of the nightly import.

- :class:`TaskFailureNotifier` (``on_failure_callback``): a task failed for good (after its retries). The
  message names the exception's type only: exception texts are written PHI-free, but a message leaves the
  building, so it carries no free text at all.
- :class:`ApprovalNotifier` (the HITL operators' ``notifiers``): an approval is waiting, with the link to
  the task's "Required actions" page and to the run's Report tab.
- :func:`deadline_missed` (a ``DeadlineAlert``'s ``AsyncCallback``, run by the triggerer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from airflow.providers.common.compat.notifier import BaseNotifier
from airflow.sdk.exceptions import AirflowFailException

from include.core.errors import GenascopeError
from include.notify import channels
from include.notify.messages import Message
from include.notify.settings import load

log = logging.getLogger(__name__)


class NightNeedsAttention(GenascopeError, AirflowFailException):
    """The night's last task fails with this (no retry) when configured to; its message was already sent."""


def _ids(context: Any) -> tuple[str, str, str | None, int]:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or context["dag"].dag_id
    run_id = getattr(ti, "run_id", None) or context["run_id"]
    task_id = getattr(ti, "task_id", None)
    map_index = getattr(ti, "map_index", -1)
    if task_id and map_index is not None and map_index >= 0:
        task_id = f"{task_id}[{map_index}]"
    return dag_id, run_id, task_id, int(getattr(ti, "try_number", 0) or 0)


#: Tasks whose failure only repeats an upstream failure (the red-run watcher): no message of their own.
SILENT_TASKS = frozenset({"fail_run_if_any_step_failed"})


class TaskFailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every task: one message per failed task instance."""

    def notify(self, context: Any) -> None:
        exc = context.get("exception")
        if isinstance(exc, NightNeedsAttention):
            return  # the night's message already went out; failing only paints the grid red
        dag_id, run_id, task_id, tries = _ids(context)
        if task_id and task_id.split("[")[0].rsplit(".", 1)[-1] in SILENT_TASKS:
            return
        reason = type(exc).__name__ if isinstance(exc, BaseException) else "task_failed"
        settings = load()
        channels.send(Message.build("task_failed", dag_id, run_id, task_id, {reason: 1}, {"tries": tries},
                                    base_url=channels.base_url(settings)), settings, context)


class ApprovalNotifier(BaseNotifier):
    """The HITL operators' notifier: an approval request is waiting for an answer."""

    def notify(self, context: Any) -> None:
        dag_id, run_id, task_id, _ = _ids(context)
        settings = load()
        base = channels.base_url(settings)
        task = context.get("task")
        action = None
        try:
            action = task.generate_link_to_ui(task_instance=context["ti"], base_url=base or None)
        except (AttributeError, ValueError, KeyError):  # no base_url anywhere: a relative link
            action = f"/dags/{dag_id}/runs/{run_id}/tasks/{getattr(task, 'task_id', task_id)}/required_actions"
        timeout = getattr(task, "response_timeout", None)
        counts = {"answer_within_minutes": int(timeout.total_seconds() // 60)} if timeout else {}
        channels.send(Message.build("approval_waiting", dag_id, run_id, task_id, {"approval_waiting": 1}, counts,
                                    base_url=base, action_url=action), settings, context)


def _deadline_message(context: dict[str, Any], deadline: str) -> tuple[Message, Any]:
    run = context.get("dag_run") or {}
    settings = load()
    message = Message.build("deadline_missed", str(run.get("dag_id")), str(run.get("dag_run_id") or run.get("run_id")),
                            None, {f"deadline_missed:{deadline}": 1}, {},
                            base_url=channels.base_url(settings))
    return message, settings


async def deadline_missed(context: dict[str, Any] | None = None, deadline: str = "deadline") -> int:
    """A Deadline Alert's callback (the triggerer awaits it with Airflow's simple context: ``dag_run``,
    ``deadline``). Sends one message; returns the number of channels that took it."""
    message, settings = await asyncio.to_thread(_deadline_message, dict(context or {}), deadline)
    return await asyncio.to_thread(channels.send, message, settings, context)
