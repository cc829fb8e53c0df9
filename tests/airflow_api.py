"""Airflow's real api-server app in-process (core API, auth manager, this project's plugin mounted) and
JWTs signed by its simple auth manager, for route tests and for answering approvals like the UI does."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

USERS = "admin:admin,viewer:viewer"


@pytest.fixture(scope="module")
def api(airflow_home, tmp_path_factory):
    """A TestClient on the whole api-server app."""
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = USERS
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(
        tmp_path_factory.mktemp("auth") / "passwords.json")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(apps="core"), base_url="http://127.0.0.1") as client:
        yield client


def token(role: str | None, name: str | None = None) -> str:
    """A JWT exactly as Airflow signs it for a user with ``role`` (None: a user with no role at all)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=name or str(role), role=role))


@pytest.fixture(scope="module")
def tokens(api) -> dict[str, str]:
    return {"admin": token("admin"), "viewer": token("viewer"), "outsider": token(None, "outsider")}


def wait_for_awaiting_input(dag_id: str, task_id: str, timeout_s: float = 300) -> str | None:
    """The run id once ``task_id`` waits for a human (state awaiting_input), None if it never does."""
    import sqlalchemy as sa
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with create_session() as session:
            run_id = session.scalar(sa.select(TaskInstance.run_id).where(
                TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id,
                TaskInstance.state == "awaiting_input").order_by(TaskInstance.start_date.desc()).limit(1))
        if run_id:
            return run_id
        time.sleep(0.5)
    return None


def hitl_url(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails"


def answer(api, dag_id: str, task_id: str, choice: str, *, user_token: str,
           before: Callable[[str, dict], None] | None = None) -> dict:
    """Wait for the approval ``task_id``, call ``before(run_id, hitl_detail)``, then answer ``choice`` through
    Airflow's REST API as ``user_token``'s user (what the UI's Required Actions does)."""
    run_id = wait_for_awaiting_input(dag_id, task_id)
    assert run_id, f"{task_id} never waited for approval"
    headers = {"Authorization": f"Bearer {user_token}"}
    detail = api.get(hitl_url(dag_id, run_id, task_id), headers=headers).json()
    try:
        if before:
            before(run_id, detail)
    finally:
        response = api.patch(hitl_url(dag_id, run_id, task_id), headers=headers,
                             json={"chosen_options": [choice], "params_input": {}})
    assert response.status_code == 200, response.text
    return detail
