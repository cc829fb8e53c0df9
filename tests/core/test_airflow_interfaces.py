"""The two Airflow behaviours the project relies on, through public APIs only: these tests fail loudly
when an Airflow upgrade changes them (include/core/db.py::_task_context_active,
include/core/storage.py::_ensure_filesystem)."""

from __future__ import annotations

import pytest

from include.core import db, storage


def test_the_task_sdk_reports_no_current_context_outside_a_task_and_one_inside(monkeypatch):
    from airflow.sdk import get_current_context
    from airflow.sdk.execution_time.context import set_current_context  # what the task runner uses

    with pytest.raises(Exception, match="no context"):
        get_current_context()
    assert db._task_context_active() is False
    with set_current_context({"dag_id": "clinic_patient_import"}):
        assert db._task_context_active() is True
        monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "clinic_patient_import")
        assert db.in_airflow_task() is True
    assert db._task_context_active() is False
    assert db.in_airflow_task() is False  # the export outlives dag.test(); the context does not


def test_attaching_a_filesystem_twice_keeps_the_first_store_and_paths_work(tmp_path):
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    storage._ensure_filesystem("memory")
    first = attach("memory")
    storage._ensure_filesystem("memory")
    assert attach("memory") is first, "attach() no longer returns the store already attached for a scheme"
    p = storage.path("memory://genascope-interface-test/a.txt")
    assert isinstance(p, ObjectStoragePath)
    p.write_text("ids only")
    assert ObjectStoragePath("memory://genascope-interface-test/a.txt").read_text() == "ids only"


def test_the_task_sdk_context_lives_in_the_module_db_checks_for():
    """A process that never loaded the SDK's context (a task's child process) counts as inside the task;
    this holds only while get_current_context keeps its stack in that module."""
    import subprocess
    import sys

    from airflow.sdk import get_current_context

    assert get_current_context.__module__ == "airflow.sdk.definitions.context"
    assert db._SDK_CONTEXT_MODULE in sys.modules
    code = ("import os, sys; os.environ['AIRFLOW_CTX_DAG_ID'] = 'x'; from include.core import db; "
            "assert db._SDK_CONTEXT_MODULE not in sys.modules; print(db.in_airflow_task())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
