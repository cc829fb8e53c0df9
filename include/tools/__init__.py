"""The tooling behind the Makefile's verbs, run outside any DAG task.

* :mod:`include.tools.demo`             ``make demo``: the whole job end to end on the embedded PostgreSQL;
* :mod:`include.tools.sql_lint`         ``make lint``: squawk on the migrations' offline SQL;
* :mod:`include.tools.airflow_settings` ``make airflow``, the demo, the tests: apply ``airflow_settings.yaml``.

The operator commands stay at ``python -m include.cli`` (short, and what the runbook names).
"""
