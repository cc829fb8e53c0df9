"""Run reports: a per-run folder with ``report.md`` (for people) and ``report.json`` (the numbers).

Reports hold ids, counts, durations, revision ids and reason codes only. The folder also receives
the GX Data Docs and any export of the run, so it is owner-only (0700, its files 0600: see
``include/core/private_files.py``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.core import private_files, storage


def folder_name(run_id: str) -> str:
    """The run folder's name for ``run_id`` (Airflow's run ids hold ``:`` and ``+``): what the writers create
    and the UI looks up."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def run_dir(dag_id: str, run_id: str, root: Path | None = None) -> Any:
    """``<runs root>/<dag_id>/<run id>``, created owner-only (the runs root down to it: 0700).

    The runs root is ``include.core.storage.runs_root()`` (the Variable ``genascope_runs_dir`` inside a task, else
    ``GENASCOPE_RUNS_DIR``, else ``runs/``): a ``Path``, or an ``ObjectStoragePath`` on object storage, so the
    API server reads what any worker wrote. ``str()`` of the result is its full location."""
    base = storage.path(root) if root is not None else storage.runs_root()
    path = base / dag_id / folder_name(run_id)
    private_files.ensure_dir(path, within=base)
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "—"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return out + [""]


def write(directory: Any, title: str, data: dict[str, Any]) -> Any:
    """Write report.json (``data`` verbatim) and report.md (rendered). Returns the markdown path."""
    data = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **data}
    private_files.write_text(directory / "report.json", json.dumps(data, indent=2, default=str, sort_keys=False))
    lines = [f"# {title}", "", f"Generated {data['generated_at']}.", ""]
    for key, value in data.items():
        if key == "generated_at":
            continue
        lines.append(f"## {key.replace('_', ' ').capitalize()}")
        lines.append("")
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines += _table(value)
        elif isinstance(value, dict):
            lines += _table([{"item": k, "value": v if not isinstance(v, dict) else json.dumps(v, default=str)}
                             for k, v in value.items()])
        else:
            lines += [_fmt(value), ""]
    path = directory / "report.md"
    private_files.write_text(path, "\n".join(lines))
    return path


def xcom_inputs(ti: Any, report_tasks: dict[str, str], gate_tasks: list[str]) -> tuple[dict[str, Any], list[Any]]:
    """A DAG run's report inputs from its XComs: each step's result (``decision`` of an ``approve_*`` step,
    else its return value) and the gate results its gate tasks pushed."""
    results = {name: ti.xcom_pull(task_ids=task_id, key="decision" if name.startswith("approve_") else "return_value")
               for name, task_id in report_tasks.items()}
    gates = [g for g in (ti.xcom_pull(task_ids=t, key="gate") for t in gate_tasks) if g]
    return results, gates


def finish(dag_id: str, run_id: str, title: str, data: dict[str, Any]) -> dict[str, str]:
    """Write a run's report into its run folder and close its run record with the report's status."""
    from include.core import run_records
    from include.core.db import app_engine

    directory = run_dir(dag_id, run_id)
    path = write(directory, title, data)
    with app_engine().connect() as conn:
        run_records.finish_run(conn, run_id, data.get("status", "done"))
    return {"report": str(path), "folder": str(directory)}
