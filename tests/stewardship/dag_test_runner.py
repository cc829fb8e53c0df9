"""Run one ``patient_stewardship`` DAG run with ``dag.test()`` (called in a subprocess by the tests).

Usage: python tests/stewardship/dag_test_runner.py '<run_conf as JSON>'
Prints one JSON line ``RESULT {...}`` with the run's state and each task instance's state.
"""

from __future__ import annotations

import json
import runpy
import sys

from airflow.sdk import DAG

from include.core import settings


def main() -> None:
    conf = json.loads(sys.argv[1])
    module = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / "patient_stewardship.py"))
    dag = module["dag"]
    assert isinstance(dag, DAG)
    dr = dag.test(run_conf=conf)
    tis = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    print("RESULT " + json.dumps({"state": str(dr.state), "run_id": dr.run_id, "tasks": tis}))


if __name__ == "__main__":
    main()
