"""Run one DAG of dags/ with ``dag.test()`` (called in a subprocess by the notification tests).

Usage: python tests/notify/dag_test_runner.py <dag file stem> '<run_conf as JSON>' [<logical date ISO>]
Prints one JSON line ``RESULT {...}``: the run's state, each task instance's state and the extras of the
asset events the run emitted.
"""

from __future__ import annotations

import json
import runpy
import sys

import pendulum
from airflow.sdk import DAG

from include.core import settings


def main() -> None:
    stem, conf = sys.argv[1], json.loads(sys.argv[2])
    logical_date = pendulum.parse(sys.argv[3]) if len(sys.argv) > 3 else None
    module = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / f"{stem}.py"))
    dag = module["dag"]
    assert isinstance(dag, DAG)
    dr = dag.test(run_conf=conf, logical_date=logical_date) if logical_date else dag.test(run_conf=conf)
    tis = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in dr.get_task_instances()}
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = [e.extra for e in session.scalars(sa.select(AssetEvent).where(
            AssetEvent.source_run_id == dr.run_id, AssetEvent.source_dag_id == dag.dag_id))]
    print("RESULT " + json.dumps({"state": str(dr.state), "run_id": dr.run_id, "tasks": tis,
                                  "asset_events": events}, default=str))


if __name__ == "__main__":
    main()
