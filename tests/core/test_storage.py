"""The runs root and object storage (include/core/storage.py): where files go, on a real S3-compatible server
(moto on 127.0.0.1); local folders refused on a non-local executor unless declared shared."""

from __future__ import annotations

import json
import uuid

import pytest

from include.core import settings, storage


def test_outside_a_task_the_runs_root_is_genascope_runs_dir_else_the_project_default(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    assert storage.runs_root_location() == str(tmp_path / "runs")
    monkeypatch.setattr(settings, "RUNS_DIR", "runs")  # relative: from the project root
    assert storage.runs_root() == settings.PROJECT_ROOT / "runs"


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor"])
def test_a_local_runs_root_is_refused_on_a_non_local_executor_saying_what_to_configure(monkeypatch, tmp_path,
                                                                                     executor):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.delenv(storage.SHARED_ROOTS_ENV, raising=False)
    with pytest.raises(storage.StorageNotShared) as info:
        storage.require_shared(str(tmp_path / "runs"), "the runs root", "the Variable genascope_runs_dir")
    message = str(info.value)
    assert str(tmp_path / "runs") in message and storage.worker_host() in message
    assert "the Variable genascope_runs_dir" in message and "s3://" in message
    assert storage.SHARED_ROOTS_ENV in message
    storage.require_shared("s3://bucket/runs", "the runs root", "x")  # object storage: fine
    monkeypatch.setenv(storage.SHARED_ROOTS_ENV, str(tmp_path))  # a declared shared volume: fine
    storage.require_shared(str(tmp_path / "runs"), "the runs root", "x")


def test_a_local_runs_root_is_fine_with_the_local_executor(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    storage.require_shared(str(tmp_path), "the runs root", "x")
    assert storage.distributed() is False


def test_s3_paths_write_list_read_and_move_through_object_storage_path(s3_server):
    base = f"s3://genascope-test/{uuid.uuid4().hex[:8]}"
    folder = storage.path(base + "/runs/dag/run-1")
    assert type(folder).__name__ == "ObjectStoragePath"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "report.json").open("wb") as fh:
        fh.write(json.dumps({"status": "done"}).encode())
    assert storage.location(folder / "report.json") == base + "/runs/dag/run-1/report.json"
    assert json.loads(storage.read_text(base + "/runs/dag/run-1/report.json")) == {"status": "done"}
    assert [p.name for p in folder.iterdir()] == ["report.json"]
    # a second process-level path object reaches the same server (the filesystem is attached once)
    assert storage.path(base + "/runs/dag/run-1/report.json").exists()
