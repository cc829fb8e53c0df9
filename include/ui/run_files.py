"""Reading the runs root from the api-server: the one place the UI touches report files.

Everything the plugin shows comes from files the DAG tasks wrote under the runs root
(``<root>/<dag_id>/<sanitized run id>/…``, see ``include/core/run_report.py``), read through Airflow's
``ObjectStoragePath`` so the same code reads a local folder (``file://…``) or object storage
(``s3://…``). :func:`runs_root` is the only place that decides where the root is.

Nothing from a URL reaches a path unchecked: the DAG id must be one of the pipeline's, the run id is
sanitized exactly as the writer sanitizes it, and every further path segment must be a plain name
(letters, digits, ``_ . -``; never ``.``/``..``, never hidden). :class:`UnsafePath` otherwise.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from include.core import pipeline_dags
from include.core.errors import GenascopeError, UnsafePath

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class ReportNotFound(GenascopeError, FileNotFoundError):
    """The run folder or the file in it does not exist (the run has not written it yet)."""


def runs_root() -> ObjectStoragePath:
    """The runs root as an ObjectStoragePath: the one the writers use (``include.core.storage.runs_root_location``:
    ``GENASCOPE_RUNS_DIR`` as a folder or a URI, else ``runs/``)."""
    from airflow.sdk import ObjectStoragePath

    from include.core import storage

    configured = storage.runs_root_location()
    if "://" not in configured:
        configured = "file://" + os.path.abspath(configured)
    return ObjectStoragePath(configured)


def run_folder_name(run_id: str) -> str:
    """The folder name the writer uses for ``run_id`` (``run_report.folder_name``), checked."""
    from include.core import run_report

    safe = run_report.folder_name(run_id)
    if not _SEGMENT.match(safe) or safe.strip(".") == "":
        raise UnsafePath("not a run id")
    return safe


def check_dag_id(dag_id: str) -> str:
    if dag_id not in pipeline_dags.DAG_IDS:
        raise UnsafePath(f"not a pipeline DAG: {dag_id[:64]!r}")
    return dag_id


def check_relative(path: str) -> list[str]:
    """``a/b/c.html`` -> ``["a", "b", "c.html"]`` when every segment is a plain name."""
    parts = path.split("/")
    if not parts or any(not _SEGMENT.match(p) or p in (".", "..") or ".." in p for p in parts):
        raise UnsafePath("not a plain relative path")
    return parts


def run_path(dag_id: str, run_id: str, relative: str = "") -> ObjectStoragePath:
    """The checked path of ``relative`` inside the run folder of ``dag_id``/``run_id``."""
    path = runs_root() / check_dag_id(dag_id) / run_folder_name(run_id)
    for part in check_relative(relative) if relative else []:
        path = path / part
    return path


def read_bytes(dag_id: str, run_id: str, relative: str) -> bytes:
    """The one reader: bytes of a file in a run folder (ReportNotFound when it is not there)."""
    path = run_path(dag_id, run_id, relative)
    try:
        if not path.is_file():
            raise ReportNotFound(relative)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ReportNotFound(relative) from exc


def read_json(dag_id: str, run_id: str, relative: str) -> dict:
    import json

    return json.loads(read_bytes(dag_id, run_id, relative))


def list_names(dag_id: str, run_id: str, relative: str = "") -> list[str]:
    """Names in a folder of a run (empty when it does not exist)."""
    path = run_path(dag_id, run_id, relative)
    try:
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    except FileNotFoundError:
        return []


def exists(dag_id: str, run_id: str, relative: str) -> bool:
    try:
        return run_path(dag_id, run_id, relative).exists()
    except FileNotFoundError:
        return False
