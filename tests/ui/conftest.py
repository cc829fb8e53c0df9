"""The plugin's routes on Airflow's real api-server app (see tests/airflow_api.py)."""

from __future__ import annotations

import pytest

from tests.airflow_api import api, token, tokens  # noqa: F401 (fixtures and helper)


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """An empty runs root that both the writers (run_report) and the plugin's reader use."""
    from include.core import settings

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("GENASCOPE_RUNS_DIR", str(root))
    monkeypatch.setattr(settings, "RUNS_DIR", root)
    return root
