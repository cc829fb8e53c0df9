"""Shared import-test helpers: the PHI of the sample clinic files (to prove it never reaches logs), and
the Airflow home for ``dag.test()`` runs (a temp AIRFLOW_HOME with a migrated SQLite metadata DB and the
``genascope_db`` pool). The lead may move the Airflow part to tests/conftest.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from include.core import settings
from include.imports.readers import read_records
from include.imports.sources import load_sources

PHI_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth")
SAMPLE_CLINICS = settings.INCLUDE_DIR / "sample_data" / "clinics"


def sample_phi_tokens(min_len: int = 5) -> set[str]:
    """Names, e-mails, phones and DOBs found in the sample clinics' files (as read, and their digits)."""
    tokens: set[str] = set()
    for source in load_sources().values():
        folder = SAMPLE_CLINICS / source.landing_path().rstrip("/").rsplit("/", 1)[-1] / "incoming"
        for path in sorted(folder.iterdir()) if folder.exists() else []:
            for rec in read_records(str(path), source):
                for f in PHI_FIELDS:
                    value = (rec.values.get(f) or "").strip()
                    if len(value) >= min_len:
                        tokens.add(value)
                    digits = re.sub(r"\D", "", value) if f == "phone" else ""
                    if len(digits) >= 7:
                        tokens.add(digits)
    return tokens


def find_phi(text: str, tokens: set[str]) -> list[str]:
    """Tokens that occur in ``text`` as whole words (so 'Dale' does not match 'Dalesford')."""
    return sorted(t for t in tokens if re.search(r"(?<![\w@.])" + re.escape(t) + r"(?![\w@])", text))


@pytest.fixture(scope="session")
def phi_tokens() -> set[str]:
    tokens = sample_phi_tokens()
    assert len(tokens) > 20, "the sample clinic files should carry fictional PHI to scan for"
    return tokens


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for Airflow subprocesses: a throw-away AIRFLOW_HOME whose SQLite metadata DB is migrated
    (`airflow db migrate`), the project's dags/ folder, no examples, and the genascope_db pool.

    ``dag.test()`` runs in a subprocess with this environment: Airflow reads its configuration once per
    process, and other tests of the session may already have imported it with another home."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PYTHONPATH": str(settings.PROJECT_ROOT),
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run([*airflow, "pools", "set", settings.APP_DB_POOL, "4", "application database"],
                   check=True, env=env, capture_output=True, timeout=300)
    return env
