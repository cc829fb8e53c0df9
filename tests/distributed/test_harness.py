"""The harness of the distributed test: worker namespaces really hide one worker's local files from the
other and from this (the API server's) side; the moto server is an S3 endpoint on the loopback only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from include.core import settings
from include.distributed import celery_stack, moto_s3, namespaces

pytestmark = pytest.mark.skipif(not namespaces.supported(), reason="needs root for unshare --mount --uts")


def test_a_file_one_worker_writes_locally_is_invisible_to_the_other_and_to_the_host():
    shared = settings.PROJECT_ROOT / ".airflow-celery-probe" / "shared" / "runs"
    # the workers' own disks (not under /tmp: each worker gets a fresh /tmp)
    homes = {name: settings.PROJECT_ROOT / ".airflow-celery-probe" / name for name in ("worker-a", "worker-b")}
    try:
        write = namespaces.isolated("worker-a", ["sh", "-c", f"hostname; echo x > {shared}/report.json; "
                                                             f"ls {shared}"], {shared: homes["worker-a"]})
        out = subprocess.run(write, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.split() == ["worker-a", "report.json"], out
        read = namespaces.isolated("worker-b", ["sh", "-c", f"hostname; ls -A {shared}; ls -A /tmp"],
                                   {shared: homes["worker-b"]})
        out = subprocess.run(read, capture_output=True, text=True, timeout=60)
        root = settings.PROJECT_ROOT.resolve()
        checkout_in_tmp = [root.relative_to("/tmp").parts[0]] if Path("/tmp") in root.parents else []
        # nothing in runs/, and nothing in /tmp but the way to the checkout when it lives there
        assert out.returncode == 0 and out.stdout.split() == ["worker-b", *checkout_in_tmp], out
        assert list(shared.iterdir()) == []  # the host's folder under the mount point is untouched
        assert (homes["worker-a"] / "report.json").exists()  # it went to worker-a's own disk
    finally:
        import shutil

        shutil.rmtree(settings.PROJECT_ROOT / ".airflow-celery-probe", ignore_errors=True)


def test_a_checkout_under_tmp_stays_visible_to_a_worker_whose_tmp_is_otherwise_fresh(tmp_path):
    if Path("/tmp") not in tmp_path.resolve().parents:
        pytest.skip("pytest's temporary folders are not under /tmp here")
    checkout = tmp_path / "checkout"  # plays a clone under /tmp
    checkout.mkdir()
    (checkout / "code.txt").write_text("code\n")
    (tmp_path / "stray.txt").write_text("another process's file")
    shared, own = checkout / "runs", checkout / ".workers" / "worker-a"
    cmd = namespaces.isolated("worker-a", ["sh", "-c", f"cat {checkout}/code.txt; echo x > {shared}/report.json; "
                                                       f"ls -A {tmp_path}"], {shared: own}, keep=[checkout])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["code", "checkout"], out  # the stray file is hidden
    assert (own / "report.json").exists() and not (shared / "report.json").exists()


def test_the_deployment_settings_name_every_component_setting_and_bind_the_loopback(tmp_path):
    dep = celery_stack.Deployment(home=tmp_path, metadata_uri="postgresql://postgres@127.0.0.1:5432/meta",
                                  app_db_uri="postgresql://app@127.0.0.1:5432/genascope")
    env = celery_stack.airflow_environment(dep)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{dep.api_port}/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert len(env["AIRFLOW__API__SECRET_KEY"]) >= 32 and len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32
    assert env["AIRFLOW_CONN_GENASCOPE_DB"] == dep.app_db_uri
    # the shared secrets are generated once, owner-only, and every component gets the same ones
    assert celery_stack.airflow_environment(dep)["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_the_moto_server_listens_on_the_loopback_only():
    server = moto_s3.start()
    try:
        assert server.host == "127.0.0.1" and server.env()["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert server.create_bucket("probe") == "s3://probe"
    finally:
        server.stop()
    assert server.process is not None and server.process.poll() is not None
