"""The test that would have caught issue 13: the three DAGs through a CeleryExecutor deployment whose two
workers do not share a disk (each in its own mount namespace), with the landing and the runs root on an
S3-compatible server on localhost (moto).

One deployment for the module (``make test-distributed``, about 5-8 minutes on 2 cores): the migration
(real run), an import of the sample clinics and a rollback dry run, triggered through the REST API.
Asserts: every task succeeded (or was skipped by design), tasks ran on both workers, every delivered
file was imported exactly once and moved to ``processed/`` on S3, nothing was written to a worker's
local runs/landing folders, and every report and Data Docs site is readable from the API server's side
through the runs root (the ledger and XComs carry ``s3://`` URIs).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from include.core import alembic_driver, db, settings
from include.distributed import celery_stack, moto_s3, namespaces
from include.imports.sources import load_sources
from tests.conftest import EXTERNAL_URL, create_database, drop_database, server_admin_uri

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(os.environ.get("GENASCOPE_DISTRIBUTED_TEST") != "1",
                       reason="the distributed test runs with `make test-distributed` (needs Redis, root)"),
]

SAMPLE_CLINICS = settings.INCLUDE_DIR / "sample_data" / "clinics"
BUCKET = "genascope-distributed"
BROKER = os.environ.get("GENASCOPE_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
INVITES = 300
RUN_TIMEOUT_S = 420


@dataclass
class Stack:
    dep: celery_stack.Deployment
    app_uri: str
    metadata_uri: str
    s3: moto_s3.MotoServer
    token: str

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.dep.api_url, headers={"Authorization": f"Bearer {self.token}"},
                            timeout=90)

    def get(self, url: str, **kwargs) -> httpx.Response:
        """GET with retries: on a busy 2-core machine the api-server may take a while to answer."""
        for attempt in range(5):
            try:
                with self.api as api:
                    return api.get(url, **kwargs)
            except httpx.TransportError:
                if attempt == 4:
                    raise
                time.sleep(5)
        raise AssertionError("unreachable")


def _token(dep: celery_stack.Deployment) -> str:
    passwords = json.loads((dep.home / "simple_auth_manager_passwords.json").read_text())
    resp = httpx.post(f"{dep.api_url}/auth/token", json={"username": "admin", "password": passwords["admin"]},
                      timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


def _upload_samples(s3_env: dict[str, str], landing: str) -> list[str]:
    """The sample clinics' deliveries under ``<landing>/<clinic>/incoming/`` on S3; returns the keys."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    prefix = landing.split(f"s3://{BUCKET}/", 1)[1]
    keys = []
    for clinic in sorted(p for p in SAMPLE_CLINICS.iterdir() if p.is_dir()):
        for sample in sorted((clinic / "incoming").iterdir()):
            key = f"{prefix}/{clinic.name}/incoming/{sample.name}"
            client.upload_file(str(sample), BUCKET, key)
            keys.append(key)
    return keys


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    assert celery_stack.redis_answers(BROKER), f"Redis must answer at {BROKER} (make test-distributed needs it)"
    assert namespaces.supported(), "per-worker mount namespaces need root (unshare --mount --uts)"
    import redis

    redis.Redis.from_url(BROKER).flushdb()  # this test's own broker database: no task of an earlier run
    home = settings.PROJECT_ROOT / ".airflow-celery-test"  # not under /tmp: workers get a private /tmp
    if home.exists():
        celery_stack.stop(home)
        shutil.rmtree(home)
    home.mkdir(mode=0o700)
    s3 = moto_s3.start(log_path=home / "moto.log")
    admin = server_admin_uri("external" if EXTERNAL_URL else "embedded")
    app_uri = create_database(admin, "gs_dist_app")
    metadata_uri = celery_stack.metadata_database(admin if EXTERNAL_URL else None, "gs_dist_airflow", fresh=True)
    try:
        s3.create_bucket(BUCKET)
        landing, runs = f"s3://{BUCKET}/landing", f"s3://{BUCKET}/runs"
        _upload_samples(s3.env(), landing)
        _seed_app_database(app_uri)
        dep = celery_stack.Deployment(
            home=home, metadata_uri=metadata_uri, app_db_uri=app_uri, broker_url=BROKER,
            api_port=moto_s3.free_port(), isolate=True,
            extra_env={**s3.env(), "GENASCOPE_LANDING_ROOTS": landing,
                       # only the runs this test triggers (the import DAG's 02:00 schedule would add one)
                       "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
        env = celery_stack.prepare(dep, {"genascope_landing_root": landing, "genascope_runs_dir": runs})
        celery_stack.start(dep, env)
        celery_stack.wait_ready(dep)
        yield Stack(dep, app_uri, metadata_uri, s3, _token(dep))
    finally:
        celery_stack.stop(home)
        s3.stop()
        db._engine_for.cache_clear()
        drop_database(admin, app_uri)
        drop_database(admin, metadata_uri)


def _seed_app_database(uri: str) -> None:
    from include import seed as seeder

    engine = sa.create_engine(db.to_sqlalchemy_url(uri))
    try:
        with engine.connect() as conn:
            alembic_driver.upgrade(conn, settings.REV_BASELINE)
        seeder.generate(uri, INVITES, 11)
        with engine.begin() as conn:
            for acct in sorted({s.account_id for s in load_sources().values()}):
                conn.execute(sa.text("INSERT INTO accounts (id, name, status) VALUES (:i, :i, 'active') "
                                     "ON CONFLICT (id) DO NOTHING"), {"i": acct})
    finally:
        engine.dispose()


def _run_dag(stack: Stack, dag_id: str, conf: dict) -> dict:
    """Trigger ``dag_id`` through the REST API and wait for the run to finish; returns the run."""
    deadline = time.monotonic() + 240
    while stack.get(f"/api/v2/dags/{dag_id}").status_code != 200:  # parsed by the dag-processor yet?
        assert time.monotonic() < deadline, f"{dag_id} was not parsed within 240 s"
        time.sleep(3)
    with stack.api as api:
        assert api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).status_code == 200
        resp = api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["dag_run_id"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = stack.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"{dag_id} run {run_id} still {run['state']} after {RUN_TIMEOUT_S}s"
        time.sleep(5)
    tis = stack.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200}).json()
    run["task_instances"] = tis["task_instances"]
    return run


def _xcom(stack: Stack, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> object:
    resp = stack.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                     params={"map_index": map_index, "deserialize": True})
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


@pytest.fixture(scope="module")
def runs(stack: Stack) -> dict[str, dict]:
    # require_approval false: this test is about where tasks run, not about approvals (tests/dags/test_approvals.py)
    migration = _run_dag(stack, "patient_first_migration", {"dry_run": False, "require_approval": False})
    night = _run_dag(stack, "clinic_patient_import", {"dry_run": False})
    rollback = _run_dag(stack, "patient_first_rollback", {"dry_run": True, "require_approval": False})
    return {"migration": migration, "import": night, "rollback": rollback}


def _failed(run: dict) -> str:
    return json.dumps({ti["task_id"] + f"[{ti['map_index']}]": (ti["state"], ti["hostname"])
                       for ti in run["task_instances"]}, indent=1)


def test_every_run_and_every_task_succeeded(runs):
    for name, run in runs.items():
        assert run["state"] == "success", f"{name}: {_failed(run)}"
        states = {ti["state"] for ti in run["task_instances"]}
        assert states <= {"success", "skipped"}, f"{name}: {_failed(run)}"
        done = [ti for ti in run["task_instances"] if ti["state"] == "success"]
        assert len(done) >= 5, f"{name}: {_failed(run)}"
    # skipped only by design: the ONE_FAILED tasks (nothing failed), and the rollback dry run's real steps
    by_design = ("fail_run_if_any_step_failed", "auto_rollback_on_failure")
    for name, run in runs.items():
        skipped = {ti["task_id"] for ti in run["task_instances"] if ti["state"] == "skipped"}
        allowed = {t for t in skipped if t.endswith(by_design)
                   or (name == "rollback" and t.split(".")[0] in ("archive", "downgrade", "verify"))}
        assert skipped == allowed, f"{name}: unexpected skips {sorted(skipped - allowed)}"


def test_tasks_ran_on_both_workers(runs):
    hosts = [ti["hostname"] for run in runs.values() for ti in run["task_instances"] if ti["state"] == "success"]
    assert set(hosts) == {"worker-a", "worker-b"}, sorted(set(hosts))
    assert min(hosts.count("worker-a"), hosts.count("worker-b")) >= 3, {h: hosts.count(h) for h in set(hosts)}


def test_every_delivered_file_was_imported_exactly_once(stack, runs):
    from include.core import storage

    expected = sorted(p.name for c in SAMPLE_CLINICS.iterdir() if c.is_dir() for p in (c / "incoming").iterdir())
    with psycopg.connect(stack.app_uri) as conn:
        rows = conn.execute("SELECT file_name, status, reconciled, location, report_path "
                            "FROM patient_pipeline.import_file ORDER BY file_name").fetchall()
    assert sorted(r[0] for r in rows) == expected, rows
    assert all(r[1] == "done" and r[2] for r in rows), rows
    for _, _, _, location, report_path in rows:  # the ledger carries full URIs on the object store
        assert location.startswith(f"s3://{BUCKET}/landing/") and "/processed/" in location, location
        assert report_path.startswith(f"s3://{BUCKET}/runs/clinic_patient_import/"), report_path
    os.environ.update(stack.s3.env())
    landing = storage.path(f"s3://{BUCKET}/landing")
    left = [str(p) for clinic in landing.iterdir() if (clinic / "incoming").exists()
            for p in (clinic / "incoming").iterdir()]
    assert left == [], left
    processed = sorted(p.name for clinic in landing.iterdir() for p in (clinic / "processed").iterdir()
                       if not p.name.endswith(".reason.json"))
    assert processed == expected


def test_reports_and_data_docs_are_readable_from_the_api_servers_side(stack, runs):
    """Read through the runs root from this process (the API server's mount namespace), not a worker's."""
    from include.core import storage

    os.environ.update(stack.s3.env())
    root = storage.path(f"s3://{BUCKET}/runs")
    migration_id, import_id, rollback_id = (runs[k]["dag_run_id"] for k in ("migration", "import", "rollback"))

    report = _xcom(stack, "patient_first_migration", migration_id, "write_run_report")
    assert report["report"].startswith(f"s3://{BUCKET}/runs/patient_first_migration/"), report
    assert "patient_first_migration run" in storage.read_text(report["report"])
    folder = storage.path(report["folder"])
    assert json.loads(storage.read_text(folder / "report.json"))["status"]
    docs = [p for p in (folder / "gx").rglob("index.html")]
    assert docs, "the migration's GX Data Docs site is not under its run folder"
    assert "<html" in storage.read_text(docs[0]).lower()

    summary = _xcom(stack, "clinic_patient_import", import_id, "night_summary")
    assert summary["summary_path"].startswith(f"s3://{BUCKET}/runs/clinic_patient_import/")
    night = json.loads(storage.read_text(summary["summary_path"]))
    assert sum(s.get("files", 0) for s in night["sources"].values()) == 3 and night["gx_success"] is True
    for i in range(3):
        result = _xcom(stack, "clinic_patient_import", import_id, "import_file", map_index=i)
        assert result["report_path"].startswith(f"s3://{BUCKET}/runs/"), result
        assert json.loads(storage.read_text(result["report_path"]))["status"] == "done"
    gx = list((root / "clinic_patient_import").rglob("*.json"))
    assert any("/gx/" in str(p) for p in gx), [str(p) for p in gx]

    rollback = _xcom(stack, "patient_first_rollback", rollback_id, "write_run_report")
    assert rollback["report"].startswith(f"s3://{BUCKET}/runs/patient_first_rollback/")
    assert "DRY RUN" in storage.read_text(rollback["report"])


def test_nothing_was_written_to_a_workers_local_disk(stack, runs):
    """Each worker's own runs/ and landing/ (mounted over the project's in its namespace) stayed empty, and
    the project's own folders got nothing from the deployment's runs."""
    for name in stack.dep.workers:
        for folder in celery_stack.LOCAL_FOLDERS:
            local = stack.dep.worker_dir(name) / folder
            written = [str(p) for p in local.rglob("*") if p.is_file()] if local.exists() else []
            assert written == [], f"{name} wrote locally: {written}"
    for run in runs.values():
        assert not (settings.PROJECT_ROOT / "runs" / run["dag_id"] / run["dag_run_id"]).exists()
