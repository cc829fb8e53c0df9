"""Airflow's api-server app for the approval tests (they answer approvals through its REST API)."""

from tests.airflow_api import api, tokens  # noqa: F401 (fixtures)
