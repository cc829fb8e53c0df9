"""`make airflow-celery`: this project's DAGs on a CeleryExecutor deployment on this machine.

    python -m include.distributed.celery_stack up [--landing-root URI] [--runs-root URI] [--no-isolate]
    python -m include.distributed.celery_stack down
    python -m include.distributed.celery_stack status

Components (each a process this module starts, logs in ``.airflow-celery/logs/<component>.log``):
Redis at 127.0.0.1:6379 as the Celery broker (``GENASCOPE_CELERY_BROKER_URL``), the metadata database
on the PostgreSQL server at 127.0.0.1:5432 (a database of its own, ``genascope_airflow_celery``) or,
when that server does not answer, on the embedded one; the scheduler, the dag-processor, the
triggerer, the api-server on 127.0.0.1, and two Celery workers, each in its own working directory
(``.airflow-celery/workers/<name>``) and, by default, its own mount namespace (``namespaces``), so that
a file one worker writes to a local path is invisible to the other and to the api-server.

Every setting a CeleryExecutor deployment of Airflow 3 needs is in :func:`airflow_environment` (docs/beyond-one-machine.md
lists them); ``up`` also writes them to ``.airflow-celery/airflow-celery.env``
(mode 0600: it holds the shared secrets) for ``airflow`` commands against the deployment:
``set -a; . .airflow-celery/airflow-celery.env; set +a; airflow dags list``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from include.core import db, embedded_db, settings
from include.core.errors import GenascopeError
from include.distributed import namespaces

HOME = Path(os.environ.get("GENASCOPE_CELERY_HOME", settings.PROJECT_ROOT / ".airflow-celery"))
METADATA_DATABASE = "genascope_airflow_celery"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
API_PORT = int(os.environ.get("GENASCOPE_CELERY_API_PORT", "8090"))
WORKERS = ("worker-a", "worker-b")
#: Folders under the project root that would be a worker's local disk (its defaults for the runs root and
#: the landing root): in a worker's namespace they are its own.
LOCAL_FOLDERS = ("runs", "landing")


class DeploymentError(GenascopeError, RuntimeError):
    """A component did not start or a prerequisite (Redis, a PostgreSQL server) is missing."""


@dataclass
class Deployment:
    """Where the deployment's parts are and how to reach them."""

    home: Path
    metadata_uri: str  # libpq form
    app_db_uri: str  # libpq form, handed to every component as AIRFLOW_CONN_GENASCOPE_DB
    broker_url: str = DEFAULT_BROKER
    api_port: int = API_PORT
    workers: tuple[str, ...] = WORKERS
    isolate: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def worker_dir(self, name: str) -> Path:
        return self.home / "workers" / name


def _secrets(home: Path) -> dict[str, str]:
    """The secrets every component must share, generated once into ``home/secrets.json`` (0600)."""
    path = home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {"api_secret_key": secrets.token_urlsafe(32), "jwt_secret": secrets.token_urlsafe(48),
              "fernet_key": Fernet.generate_key().decode()}
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    return values


def _sqlalchemy(uri: str, driver: str = "postgresql+psycopg") -> str:
    return driver + "://" + db.to_libpq_uri(uri).split("://", 1)[1]


def airflow_environment(dep: Deployment) -> dict[str, str]:
    """Every Airflow setting of the deployment, as environment variables (the same for every component)."""
    sec = _secrets(dep.home)
    meta = _sqlalchemy(dep.metadata_uri)
    env = {
        "AIRFLOW_HOME": str(dep.home / "airflow_home"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Fernet key: connections and variables in the metadata DB are encrypted with it; one for all.
        "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
        # Which worker ran a task instance (its hostname column): the namespace's hostname, no DNS lookup.
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
        # Workers reach the api-server's Execution API (task state, XComs, variables, connections) here.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{dep.api_url}/execution/",
        # A busy api-server (2 cores shared by every component here) answers in seconds, not milliseconds;
        # the default 5 s made tasks fail on their first heartbeat or state call.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        # The metadata DB (scheduler, dag-processor, triggerer, api-server); psycopg 3 for the sync engine,
        # and explicitly for the async one (Airflow's default async driver for postgresql is asyncpg).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta,
        # Celery: Redis broker, task results in the metadata DB.
        "AIRFLOW__CELERY__BROKER_URL": dep.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # Shared secrets: the api-server's session key, and the JWT secret that signs the tokens the
        # scheduler hands to workers and the api-server validates.
        "AIRFLOW__API__SECRET_KEY": sec["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
        "AIRFLOW__API_AUTH__JWT_ISSUER": "genascope-airflow-celery",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(dep.api_port),
        "AIRFLOW__API__BASE_URL": dep.api_url,
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(dep.home / "simple_auth_manager_passwords.json"),
        # Task logs: one folder all components read (production: remote logging to object storage).
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(dep.log_dir / "tasks"),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        # The app database: every component and task gets the same server (never an embedded one per worker).
        db.ENV_CONN: dep.app_db_uri,
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(settings.PROJECT_ROOT),
        **dep.extra_env,
    }
    return env


def _server_answers(admin_uri: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(admin_uri, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def metadata_database(server_uri: str | None = None, name: str = METADATA_DATABASE, *, fresh: bool = False) -> str:
    """The metadata database's URI: ``name`` on ``server_uri`` (default the PostgreSQL server at 127.0.0.1:5432),
    else on the embedded server. Created if missing; dropped first when ``fresh``."""
    import psycopg

    admin = server_uri or os.environ.get("GENASCOPE_CELERY_METADATA_SERVER") or DEFAULT_SERVER
    if not _server_answers(admin):
        if server_uri:
            raise DeploymentError(f"no PostgreSQL server answers at {db.AppDatabase(admin, 'metadata').describe()}")
        admin = embedded_db.start_server()
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return db.with_database(admin, name)


def redis_answers(url: str = DEFAULT_BROKER) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def lay_out_landing(landing_uri: str) -> list[str]:
    """Copy the sample clinics' deliveries under ``<landing_uri>/<clinic>/incoming/`` (object storage or a
    folder), through the pipeline's own storage layer; returns their locations."""
    from include.core import storage
    from include.imports.demo_support import SAMPLE_CLINICS

    placed = []
    for clinic in sorted(p for p in SAMPLE_CLINICS.iterdir() if p.is_dir()):
        folder = storage.path(f"{landing_uri.rstrip('/')}/{clinic.name}/incoming")
        folder.mkdir(parents=True, exist_ok=True)
        for sample in sorted((clinic / "incoming").iterdir()):
            target = folder / sample.name
            with sample.open("rb") as src, target.open("wb") as dst:
                dst.write(src.read())
            placed.append(storage.location(target))
    return placed


def _airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: float = 900) -> None:
    with log.open("ab") as out:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=settings.PROJECT_ROOT,
                              timeout=timeout)
    if proc.returncode != 0:
        raise DeploymentError(f"`{' '.join(cmd[2:5])}` failed (exit {proc.returncode}); see {log}")


def prepare(dep: Deployment, variables: dict[str, str] | None = None) -> dict[str, str]:
    """Migrate the metadata DB, apply airflow_settings.yaml, then set ``variables``; returns the environment."""
    dep.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    dep.log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_environment(dep)}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    log = dep.log_dir / "prepare.log"
    _run(_airflow("db", "migrate"), env, log)
    _run([sys.executable, "-m", "include.tools.airflow_settings"], env, log)
    if variables:  # one process for all of them (each `airflow variables set` pays Airflow's start-up)
        _run([sys.executable, "-c", "import json, sys\nfrom airflow.models import Variable\n"
              "for k, v in json.loads(sys.argv[1]).items():\n    Variable.set(k, v)",
              json.dumps(variables)], env, log)
    env_file = dep.home / "airflow-celery.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# make airflow-celery: the deployment's settings (holds its shared secrets; mode 0600)\n")
        for k, v in airflow_environment(dep).items():
            fh.write(f"{k}={shlex.quote(v)}\n")
    return env


def _spawn(name: str, cmd: list[str], env: dict[str, str], dep: Deployment, cwd: Path) -> int:
    out = (dep.log_dir / f"{name}.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return proc.pid


def start(dep: Deployment, env: dict[str, str]) -> dict[str, int]:
    """Start every component in the background; their process ids go to ``home/pids.json``."""
    if not redis_answers(dep.broker_url):
        raise DeploymentError(f"no Redis answers at {dep.broker_url.rsplit('@', 1)[-1]} "
                              "(start it: redis-server --bind 127.0.0.1 --daemonize yes)")
    if dep.isolate and not namespaces.supported():
        raise DeploymentError("per-worker mount namespaces need root (unshare --mount --uts); "
                              "run with --no-isolate to share this machine's disk between the workers")
    pids: dict[str, int] = {}
    root = settings.PROJECT_ROOT
    for component, args in (("scheduler", ["scheduler"]), ("dag-processor", ["dag-processor"]),
                            ("triggerer", ["triggerer", "--skip-serve-logs"]),
                            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(dep.api_port)])):
        pids[component] = _spawn(component, _airflow(*args), env, dep, root)
    for name in dep.workers:
        wdir = dep.worker_dir(name)
        wdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cmd = _airflow("celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "2",
                       "--skip-serve-logs")
        wenv = {**env, "GENASCOPE_WORKER_NAME": name}
        if dep.isolate:
            cmd = namespaces.isolated(name, cmd, {root / f: wdir / f for f in LOCAL_FOLDERS})
        pids[name] = _spawn(name, cmd, wenv, dep, wdir)
    (dep.home / "pids.json").write_text(json.dumps(pids, indent=2))
    return pids


def wait_ready(dep: Deployment, timeout_s: float = 300) -> None:
    """The api-server answers its health check and every worker logged that it is ready."""
    import httpx

    deadline = time.monotonic() + timeout_s
    pending = {"api-server", *dep.workers}
    while pending and time.monotonic() < deadline:
        alive = running(dep.home)
        dead = [c for c, ok in alive.items() if not ok]
        if dead:
            raise DeploymentError(f"component(s) {dead} exited; see {dep.log_dir}/<component>.log")
        if "api-server" in pending:
            try:
                if httpx.get(f"{dep.api_url}/api/v2/monitor/health", timeout=3).status_code == 200:
                    pending.discard("api-server")
            except httpx.HTTPError:
                pass
        for name in list(pending - {"api-server"}):
            log = dep.log_dir / f"{name}.log"
            if log.exists() and f"{name}@" in log.read_text(errors="replace") and " ready." in log.read_text(
                    errors="replace"):
                pending.discard(name)
        time.sleep(2)
    if pending:
        raise DeploymentError(f"not ready after {timeout_s:.0f}s: {sorted(pending)}; see {dep.log_dir}")


def running(home: Path = HOME) -> dict[str, bool]:
    pids_file = home / "pids.json"
    if not pids_file.exists():
        return {}
    out = {}
    for component, pid in json.loads(pids_file.read_text()).items():
        try:  # alive and not a zombie (a child that exited but was not reaped yet)
            out[component] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, IndexError):
            out[component] = False
    return out


def stop(home: Path = HOME, timeout_s: float = 60) -> list[str]:
    """Stop the components this module started (their process groups, by the recorded ids)."""
    pids_file = home / "pids.json"
    if not pids_file.exists():
        return []
    pids: dict[str, int] = json.loads(pids_file.read_text())
    stopped = []
    for component, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped.append(component)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(running(home).values()):
        time.sleep(1)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pids_file.unlink()
    return stopped


def deployment(*, home: Path = HOME, app_db_uri: str | None = None, metadata_uri: str | None = None,
               isolate: bool = True, extra_env: dict[str, str] | None = None,
               broker_url: str | None = None, api_port: int = API_PORT) -> Deployment:
    """A deployment description: the app DB is ``AIRFLOW_CONN_GENASCOPE_DB`` if set, else the embedded server."""
    app = app_db_uri or os.environ.get(db.ENV_CONN) or db.embedded_connection_uri()
    return Deployment(home=home, metadata_uri=metadata_uri or metadata_database(), app_db_uri=app,
                      broker_url=broker_url or os.environ.get("GENASCOPE_CELERY_BROKER_URL", DEFAULT_BROKER),
                      api_port=api_port, isolate=isolate, extra_env=dict(extra_env or {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.distributed.celery_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--landing-root", help="Variable genascope_landing_root (e.g. s3://bucket/landing)")
    parser.add_argument("--runs-root", help="Variable genascope_runs_dir (e.g. s3://bucket/runs)")
    parser.add_argument("--no-isolate", action="store_true", help="workers share this machine's disk")
    parser.add_argument("--moto", action="store_true",
                        help="also start an S3-compatible server (moto) on 127.0.0.1, put the sample clinics' "
                             "deliveries on it and point the landing and runs roots at it (the default of "
                             "`make airflow-celery`)")
    parser.add_argument("--detach", action="store_true", help="return once everything is up (stop with `down`)")
    args = parser.parse_args(argv)
    if args.command == "status":
        for component, ok in running().items():
            print(f"{component:<14} {'running' if ok else 'exited'}")
        return 0
    if args.command == "down":
        print(f"stopped: {stop() or 'nothing was running'}")
        return 0
    if any(running().values()):
        print("already running (python -m include.distributed.celery_stack down to stop it)", file=sys.stderr)
        return 1
    extra: dict[str, str] = {}
    s3 = None
    if args.moto:
        from include.distributed import moto_s3

        HOME.mkdir(parents=True, exist_ok=True, mode=0o700)
        s3 = moto_s3.start(log_path=HOME / "moto.log")
        extra = s3.env()
        os.environ.update(extra)
        bucket = s3.create_bucket("genascope")
        args.landing_root = args.landing_root or f"{bucket}/landing"
        args.runs_root = args.runs_root or f"{bucket}/runs"
        placed = lay_out_landing(args.landing_root)
        print(f"S3 (moto) on {s3.endpoint_url}: {len(placed)} sample deliveries under {args.landing_root}", flush=True)
    if args.landing_root:  # the allow-list of landing roots (docs/contracts/operations.md §5) must hold it
        extra["GENASCOPE_LANDING_ROOTS"] = ",".join(
            r for r in (os.environ.get("GENASCOPE_LANDING_ROOTS"), args.landing_root) if r)
    dep = deployment(isolate=not args.no_isolate, extra_env=extra)
    variables = {k: v for k, v in (("genascope_landing_root", args.landing_root),
                                   ("genascope_runs_dir", args.runs_root)) if v}
    print(f"metadata DB: {db.AppDatabase(dep.metadata_uri, 'metadata').describe()}; "
          f"app DB: {db.AppDatabase(dep.app_db_uri, db.ENV_CONN).describe()}", flush=True)
    env = prepare(dep, variables)
    pids = start(dep, env)
    if s3 is not None and s3.process is not None:  # `down` stops it with the rest
        pids["moto-s3"] = s3.process.pid
        (dep.home / "pids.json").write_text(json.dumps(pids, indent=2))
    try:
        wait_ready(dep)
    except DeploymentError:
        stop(dep.home)
        raise
    print(f"CeleryExecutor deployment up: {dep.api_url} (user admin, password in "
          f"{dep.home / 'simple_auth_manager_passwords.json'}); workers {list(dep.workers)}"
          f"{' each in its own mount namespace' if dep.isolate else ''}; logs in {dep.log_dir}", flush=True)
    if args.detach:
        return 0
    try:
        while all(running(dep.home).values()):
            time.sleep(2)
        print(f"a component exited: {running(dep.home)}; stopping the others", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop(dep.home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
