"""The clinic sources document as typed configuration: a typo is refused with the key's path by
`genascope sources validate`, by the migration's preflight and by the import's first task; the document may
come from an Airflow Variable or object storage (no image for a new clinic); the JSON Schema and the
reference page are what the models generate."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from include import cli
from include.core import db
from include.imports import sources

BUNDLED = sources.DEFAULT_SOURCES_PATH.read_text()
TYPO = BUNDLED.replace('    delimiter: ","', '    delimter: ","', 1)  # in the first source (clinic-north-csv)


@pytest.fixture
def typo_file(tmp_path: Path) -> Path:
    assert TYPO != BUNDLED
    path = tmp_path / "clinic_sources.yaml"
    path.write_text(TYPO)
    return path


@pytest.fixture(autouse=True)
def _no_configured_location(monkeypatch):
    monkeypatch.delenv(sources.SOURCES_VARIABLE_ENV, raising=False)
    monkeypatch.delenv(sources.SOURCES_PATH_ENV, raising=False)


def test_a_typo_is_refused_with_the_source_the_key_and_its_path(typo_file):
    with pytest.raises(sources.SourceConfigError) as raised:
        sources.load_sources(typo_file)
    message = str(raised.value)
    assert "clinic source 'clinic-north-csv'" in message
    assert "sources[0].delimter" in message and "did you mean 'delimiter'" in message


def test_every_broken_key_of_a_document_is_listed_not_only_the_first(tmp_path):
    doc = yaml.safe_load(BUNDLED)
    doc["sources"][1]["fhir_validation"] = "thorough"
    doc["sources"][2]["max_reject_ratio"] = "lots"
    doc["landing_root"] = ["landing"]  # a top-level typo
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(sources.SourceConfigError) as raised:
        sources.load_document(path)
    lines = str(raised.value).splitlines()
    assert any("sources[1].fhir_validation" in line and "'model'" in line for line in lines), lines
    assert any("sources[2].max_reject_ratio" in line and "between 0 and 1" in line for line in lines), lines
    assert any("top-level key 'landing_root'" in line for line in lines), lines


def test_sources_validate_accepts_the_bundled_document_and_refuses_a_typo(typo_file, capsys):
    assert cli.main(["sources", "validate", str(sources.DEFAULT_SOURCES_PATH)]) == 0
    out = capsys.readouterr().out
    assert "are valid: 4 source(s)" in out and "clinic-north-csv" in out
    assert cli.main(["sources", "validate", str(typo_file)]) == 1
    err = capsys.readouterr().err
    assert "NOT valid" in err and "sources[0].delimter" in err


def test_sources_schema_prints_the_json_schema_of_the_document(capsys):
    assert cli.main(["sources", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$defs"]["SourceConfig"]["additionalProperties"] is False
    assert set(schema["$defs"]["SourceConfig"]["required"]) == {"id", "account_id", "format", "landing"}


def test_the_schema_file_and_the_reference_page_are_up_to_date():
    from include.tools import sources_reference

    assert sources_reference.main(["--check"]) == 0, "run `make sources-reference` and commit the result"
    page = sources_reference.DOC_PATH.read_text()
    for f in sources.SourceConfig.__dataclass_fields__:
        assert f"| `{f}` |" in page


def test_the_bundled_document_is_valid_against_its_json_schema():
    import jsonschema

    schema = json.loads(sources.SCHEMA_PATH.read_text())
    jsonschema.validate(yaml.safe_load(BUNDLED), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(TYPO), schema)


def test_the_variable_may_hold_the_document_itself(monkeypatch):
    doc = yaml.safe_load(BUNDLED)
    doc["sources"] = doc["sources"][:1]
    monkeypatch.setenv(sources.SOURCES_VARIABLE_ENV, yaml.safe_dump(doc))
    monkeypatch.setenv(sources.SOURCES_PATH_ENV, "/nonexistent/ignored.yaml")  # the Variable comes first
    assert list(sources.load_sources()) == ["clinic-north-csv"]
    assert sources.sources_location() == f"env:{sources.SOURCES_VARIABLE_ENV}"


def test_the_variable_may_name_a_document_on_object_storage(monkeypatch, s3_server):
    from include.core import storage

    uri = f"s3://genascope-test/config/{uuid.uuid4().hex}/clinic_sources.yaml"
    storage.path(uri).write_text(TYPO)
    monkeypatch.setenv(sources.SOURCES_VARIABLE_ENV, uri)
    with pytest.raises(sources.SourceConfigError, match=r"s3://genascope-test/.*sources\[0\]\.delimter"):
        sources.load_sources()
    storage.path(uri).write_text(BUNDLED)
    assert "clinic-west-hl7" in sources.load_sources()


def test_a_missing_document_says_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.setenv(sources.SOURCES_PATH_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(sources.SourceConfigError, match="nope.yaml: the clinic sources file does not exist"):
        sources.load_sources()


def test_the_migration_preflight_refuses_a_broken_sources_document_without_retries(monkeypatch, typo_file):
    import runpy

    from airflow.sdk.exceptions import AirflowFailException

    from include.core import settings

    dag = runpy.run_path(str(settings.PROJECT_ROOT / "dags" / "patient_first_migration.py"))["patient_first_migration"]()
    monkeypatch.setenv(sources.SOURCES_PATH_ENV, str(typo_file))
    monkeypatch.setenv(db.ENV_CONN, "postgresql://nobody@127.0.0.1:1/none")  # never reached: sources come first
    with pytest.raises(AirflowFailException, match=r"sources\[0\]\.delimter"):
        dag.get_task("preflight.check_app_db").python_callable()


@pytest.mark.airflow
def test_the_import_run_fails_its_preflight_on_a_typo_in_the_sources_variable(airflow_env, fresh_db, tmp_path):
    from tests.imports.test_dag_app_database import _run

    env = {**airflow_env, db.ENV_CONN: fresh_db, "GENASCOPE_RUNS_DIR": str(tmp_path / "runs"),
           sources.SOURCES_VARIABLE_ENV: TYPO}
    env.pop(sources.SOURCES_PATH_ENV, None)
    result, output = _run(env)
    assert result["state"] == "failed", result
    assert result["tasks"]["discover_files[-1]"] == "failed", result
    assert "SourceConfigError" in output and "sources[0].delimter" in output
    assert f"variable:{sources.SOURCES_VARIABLE}" in output  # read through the Task SDK's Variable
