"""Fixtures of the rollback tests: a database the project's steps reach (AIRFLOW_CONN_GENASCOPE_DB),
run folders under tmp_path, and a connection for the test's own reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import settings


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setattr(settings, "RUNS_DIR", folder)
    return folder


@pytest.fixture
def app_db(app_env: str, engine: sa.Engine, runs_dir: Path) -> sa.Engine:
    """An empty database that both the test (``engine``) and the steps (``db.app_engine()``) use."""
    return engine


@pytest.fixture
def conn(app_db: sa.Engine) -> Iterator[sa.Connection]:
    with app_db.connect() as c:
        yield c
