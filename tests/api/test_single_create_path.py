"""The single create's own path (include/api/async_sessions.py, intake.api_source's cache) on a real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.api import intake
from include.api.settings import ApiSettings
from include.imports.sources import DEFAULT_SOURCES_PATH, SOURCES_PATH_ENV
from tests.api.conftest import ACCT_A


def _create(server, api_env, external_id: str) -> int:
    r = server.client.post("/api/patients", headers=api_env.headers(),
                           json={"external_id": external_id, "first_name": "Path", "last_name": "Probe"})
    return r.status_code


def test_a_create_after_the_servers_sessions_were_cut_is_retried_on_a_new_session(server, api_env):
    assert _create(server, api_env, f"PATH-{uuid.uuid4().hex[:8]}") == 201
    with api_env.engine.connect() as conn:
        cut = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'genascope_intake_api' AND datname = current_database()")).scalar_one()
        conn.commit()
    assert cut >= 1  # the event loop's session (and the engines' pooled ones) are gone
    ext = f"PATH-{uuid.uuid4().hex[:8]}"
    assert _create(server, api_env, ext) == 201  # nothing of the failed attempt was written; the retry was
    with api_env.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients WHERE external_id = :e"),
                            {"e": ext}).scalar_one() == 1


@pytest.fixture
def sources_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "clinic_sources.yaml"
    path.write_text(DEFAULT_SOURCES_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv(SOURCES_PATH_ENV, str(path))
    return path


def test_the_accounts_api_source_is_kept_and_read_again_when_the_local_file_changes(sources_file: Path):
    settings = ApiSettings()
    first = intake.api_source(ACCT_A, settings)
    assert intake.cached_api_source(ACCT_A, settings) is first  # kept: no second read of the document
    text = sources_file.read_text(encoding="utf-8")
    assert "default_phone_region: US" in text
    assert first.default_phone_region == "US"
    sources_file.write_text(text.replace("default_phone_region: US", "default_phone_region: GB  # edited"),
                            encoding="utf-8")
    assert intake.cached_api_source(ACCT_A, settings) is None  # the file's size/mtime changed: not served stale
    again = intake.api_source(ACCT_A, settings)
    assert again.default_phone_region == "GB"
    assert intake.api_source(ACCT_A, ApiSettings(sources_cache_seconds=0)) is not again  # 0: read every call


def test_a_namespace_that_python_reads_as_blank_is_422_not_a_server_error(server, api_env):
    # U+001E is whitespace to Python's str.strip (the clinic sources' rule), not to the schema's \S
    r = server.client.post("/api/patients", headers=api_env.headers(),
                           json={"external_id": "NS-1", "first_name": "Ns", "last_name": "Blank",
                                 "identifier_namespace": "\u001e"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
