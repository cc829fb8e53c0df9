"""Where the pipeline's files live: one runs root, and the landing locations, as local folders or object
storage through Airflow's ``ObjectStoragePath`` (``s3://``, ``gs://``, any fsspec backend Airflow knows).

The runs root (reports, GX results and Data Docs, per-file reports, quarantine and field-issue exports,
the rollback's archive export) is, first match wins:

1. inside an Airflow task, the Variable ``genascope_runs_dir`` (when set and not empty);
2. ``GENASCOPE_RUNS_DIR``;
3. ``runs/`` under the project root (``settings.RUNS_DIR``).

Relative local values start at the project root. Object storage is reached through Airflow's object
storage layer: a provider's filesystem (with its connection, ``GENASCOPE_STORAGE_CONN_ID``) when one is
installed for the scheme, else the fsspec implementation itself (``s3fs`` reads the standard AWS
environment: ``AWS_ENDPOINT_URL``, credentials, region, or an instance role).

With a non-local executor (Celery, Kubernetes) no task may write where another task or the API server
cannot read: :func:`require_shared` refuses a local runs root or landing that is not declared a shared
volume (``GENASCOPE_SHARED_LOCAL_ROOTS``), with a message that says what to configure.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from include.core import settings
from include.core.errors import GenascopeError

log = logging.getLogger(__name__)

RUNS_DIR_VARIABLE = "genascope_runs_dir"
#: Local folders that every worker and the API server mount at the same path (NFS, a shared volume).
SHARED_ROOTS_ENV = "GENASCOPE_SHARED_LOCAL_ROOTS"
#: An Airflow connection for the object store (used when a provider registers the scheme).
STORAGE_CONN_ENV = "GENASCOPE_STORAGE_CONN_ID"
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})

_attach_lock = threading.Lock()


class StorageNotShared(GenascopeError, RuntimeError):
    """A local folder would hold files other tasks or the API server must read, on a non-local executor."""


def is_uri(location: str) -> bool:
    """``s3://…``, ``gs://…`` (``file://`` is a local path)."""
    return "://" in location and not location.startswith("file://")


def _local(location: str | os.PathLike[str]) -> Path:
    p = Path(str(location).removeprefix("file://"))
    return p if p.is_absolute() else settings.PROJECT_ROOT / p


def _ensure_filesystem(scheme: str) -> None:
    """Make ``scheme`` usable by ObjectStoragePath: a provider's registration wins; otherwise the fsspec
    implementation (e.g. s3fs) is attached once per process."""
    from airflow.sdk.io import attach, has_fs

    if has_fs(scheme):
        return
    import fsspec

    with _attach_lock:  # attach() keeps one store per alias (the scheme): a second call returns the first
        attach(scheme, fs=fsspec.filesystem(scheme))


def path(location: str | os.PathLike[str] | Any) -> Any:
    """A ``pathlib.Path`` for a local location, an ``ObjectStoragePath`` for a URI; path objects unchanged."""
    if not isinstance(location, (str, os.PathLike)):
        return location
    if isinstance(location, os.PathLike) or not is_uri(location):
        return _local(location)
    from airflow.sdk import ObjectStoragePath

    scheme = location.split("://", 1)[0].lower()
    conn_id = os.environ.get(STORAGE_CONN_ENV) or None
    from airflow.sdk.io import has_fs

    if conn_id is None or not has_fs(scheme):
        _ensure_filesystem(scheme)
        conn_id = None
    return ObjectStoragePath(location, conn_id=conn_id)


def location(p: Any) -> str:
    """The full location of a path, for XComs, reports and the ledger: ``s3://bucket/key`` or an
    absolute local path."""
    if isinstance(p, Path):
        return str(p.resolve() if not p.is_absolute() else p)
    if isinstance(p, str):
        return p if is_uri(p) else str(_local(p))
    text = str(p)
    return text


def is_local(p: Any) -> bool:
    return isinstance(p, Path) or (isinstance(p, str) and not is_uri(p))


def runs_root_location() -> str:
    """The configured runs root as a string (see the module docstring for the order)."""
    from include.core import db

    env = os.environ.get("GENASCOPE_RUNS_DIR", "").strip()
    if db.in_airflow_task():
        from airflow.sdk import Variable

        value = (Variable.get(RUNS_DIR_VARIABLE, default=None) or "").strip()
        if value:
            return value if is_uri(value) else str(_local(value))
    if is_uri(env):  # settings.RUNS_DIR is a Path, which cannot hold a URI
        return env
    return str(_local(settings.RUNS_DIR))


def runs_root() -> Any:
    """The runs root as a path object (``Path`` or ``ObjectStoragePath``)."""
    return path(runs_root_location())


def worker_host() -> str:
    """The host this process runs on (the worker, inside a task): named in errors about local files."""
    return socket.gethostname()


def executors() -> list[str]:
    """The executors Airflow is configured with here (``[core] executor``, comma-separated in Airflow 3)."""
    raw = os.environ.get("AIRFLOW__CORE__EXECUTOR")
    if raw is None:
        try:
            from airflow.configuration import conf

            raw = conf.get("core", "executor", fallback="LocalExecutor")
        except Exception:  # noqa: BLE001 - no Airflow configuration at all: a local run
            raw = "LocalExecutor"
    names = [n.strip().split(":")[-1].rsplit(".", 1)[-1] for n in (raw or "").split(",") if n.strip()]
    return names or ["LocalExecutor"]


def distributed() -> bool:
    """True when tasks may run on other machines than this one (any non-local executor)."""
    return any(name not in LOCAL_EXECUTORS for name in executors())


def shared_local_roots() -> tuple[Path, ...]:
    raw = os.environ.get(SHARED_ROOTS_ENV, "")
    return tuple(_local(r.strip()).resolve() for r in raw.split(os.pathsep) if r.strip())


def require_shared(where: str, what: str, setting: str) -> None:
    """Refuse a local ``where`` (holding ``what``) on a non-local executor unless it is a declared shared
    volume. ``setting`` names what to configure instead (e.g. the Variable ``genascope_runs_dir``)."""
    if is_uri(where) or not distributed():
        return
    local = _local(where).resolve()
    if any(local == root or root in local.parents for root in shared_local_roots()):
        return
    raise StorageNotShared(
        f"{what} is the local folder {local} on worker {worker_host()}, but Airflow runs tasks with "
        f"{', '.join(executors())}: other workers and the API server cannot see this worker's disk. Set "
        f"{setting} to an object-storage URI (s3://bucket/prefix, gs://…), or, if {local} is a volume every "
        f"worker and the API server mount at the same path, declare it in {SHARED_ROOTS_ENV}.")


def check_runs_root() -> str:
    """Preflight of every DAG: the runs root, refused when it is local on a non-local executor (see
    :func:`require_shared`). Returns its location for the run's report."""
    where = runs_root_location()
    require_shared(where, "the runs root", f"the Airflow Variable {RUNS_DIR_VARIABLE} (or GENASCOPE_RUNS_DIR)")
    return where


def read_text(location_or_path: Any) -> str:
    with path(location_or_path).open("rb") as fh:
        return fh.read().decode("utf-8")


def upload_tree(local_dir: Path, dest: Any) -> int:
    """Copy a folder a library wrote locally (GX Data Docs) under ``dest`` (local: owner-only copies);
    returns the number of files copied."""
    from include.core import private_files

    dest = path(dest)
    n = 0
    for current, _dirs, files in os.walk(local_dir, followlinks=False):
        rel = Path(current).relative_to(local_dir)
        target_dir = dest.joinpath(*rel.parts) if rel.parts else dest
        private_files.ensure_dir(target_dir)
        for name in files:
            src = Path(current) / name
            if src.is_symlink():
                continue
            private_files.copy_file(src, target_dir / name)
            n += 1
    return n
