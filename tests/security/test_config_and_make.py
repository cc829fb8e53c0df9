"""Configuration that would silently weaken the pipeline is an error; `make airflow` stays local and
stores its generated password owner-only."""

from __future__ import annotations

import subprocess

import pytest

from include.core import settings
from include.imports.sources import DEFAULT_FORMULA_PREFIXES, SourceConfigError, load_sources, source_from_dict


def _north(**overrides) -> dict:
    source = load_sources()["clinic-north-csv"]
    entry = {k: getattr(source, k) for k in source.__dataclass_fields__}
    entry.update(overrides)
    return entry


@pytest.mark.parametrize("prefixes", [[], "", ["="], ["=", "+", "-", "@"], ["=", "+", "-", "@", "\t", ""]])
def test_formula_prefixes_cannot_be_emptied_or_lose_a_required_prefix(prefixes):
    with pytest.raises(SourceConfigError, match="quarantine_formula_prefixes"):
        source_from_dict(_north(quarantine_formula_prefixes=prefixes))


def test_formula_prefixes_may_add_to_the_defaults():
    source = source_from_dict(_north(quarantine_formula_prefixes=[*DEFAULT_FORMULA_PREFIXES, "|"]))
    assert source.quarantine_formula_prefixes[-1] == "|"
    assert source_from_dict(_north()).quarantine_formula_prefixes == DEFAULT_FORMULA_PREFIXES


def test_an_empty_prefix_list_in_the_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  - id: c1\n    account_id: a1\n    format: csv\n    landing: landing/c1\n"
        "    quarantine_formula_prefixes: []\n")
    with pytest.raises(SourceConfigError, match="'c1'.*quarantine_formula_prefixes"):
        load_sources(path)


def test_make_airflow_binds_to_localhost_and_keeps_the_password_file_owner_only(tmp_path):
    home = tmp_path / "airflow"
    out = subprocess.run(["make", "-n", "airflow", f"AIRFLOW_HOME={home}"], cwd=settings.PROJECT_ROOT,
                         capture_output=True, text=True, check=True).stdout
    password_file = home / "simple_auth_manager_passwords.json.generated"
    assert f"(umask 077; touch {password_file}); chmod 600 {password_file}" in out
    assert f"chmod 700 {home}" in out
    # include.tools.airflow_local runs `airflow standalone` with the log servers bound to 127.0.0.1 too.
    assert "umask 077; AIRFLOW__API__HOST=127.0.0.1 " in out and "-m include.tools.airflow_local" in out
    assert "0.0.0.0" not in out
