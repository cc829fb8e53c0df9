"""Run one ``clinic_patient_import`` DAG run with ``dag.test()`` (called in a subprocess by the tests).

Usage: python tests/imports/dag_test_runner.py '<run_conf as JSON>' <logical date ISO>
Prints one JSON line ``RESULT {...}`` with the run's state and each task instance's state.
"""

from __future__ import annotations

import json
import runpy
import sys

import pendulum
from airflow.sdk import DAG

from include.core import settings


def main() -> None:
    conf = json.loads(sys.argv[1])
    logical_date = pendulum.parse(sys.argv[2])
    module = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / "clinic_patient_import.py"))
    dag = module["dag"]
    assert isinstance(dag, DAG)
    dr = dag.test(run_conf=conf, logical_date=logical_date)
    tis = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in dr.get_task_instances()}
    print("RESULT " + json.dumps({"state": str(dr.state), "run_id": dr.run_id, "tasks": tis}))


if __name__ == "__main__":
    main()
