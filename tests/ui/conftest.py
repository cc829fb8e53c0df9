"""The plugin's routes on Airflow's real api-server app (``create_app``, plugins loaded from ``plugins/``),
with real JWTs from Airflow's simple auth manager: admin, viewer, and a user without any role."""

from __future__ import annotations

import os

import pytest

USERS = "admin:admin,viewer:viewer"


@pytest.fixture(scope="module")
def api(airflow_home, tmp_path_factory):
    """A TestClient on the whole api-server app (core API, auth manager, our plugin mounted)."""
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = USERS
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(
        tmp_path_factory.mktemp("auth") / "passwords.json")
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app

    with TestClient(create_app(apps="core"), base_url="http://127.0.0.1") as client:
        yield client


def token(role: str | None, name: str | None = None) -> str:
    """A JWT exactly as Airflow signs it for a user with ``role`` (None: a user with no role at all)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=name or str(role), role=role))


@pytest.fixture(scope="module")
def tokens(api) -> dict[str, str]:
    return {"admin": token("admin"), "viewer": token("viewer"), "outsider": token(None, "outsider")}


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """An empty runs root that both the writers (run_report) and the plugin's reader use."""
    from include import settings

    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("GENASCOPE_RUNS_DIR", str(root))
    monkeypatch.setattr(settings, "RUNS_DIR", root)
    return root
