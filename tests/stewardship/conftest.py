"""Fixtures of the stewardship tests: a database at 20250529_update_patients with the pipeline schema,
hand-written patients / invites / users / chats, a CSV clinic source landing in a temp folder, and
probes (checksums of every application table, the action log)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, pipeline_schema, settings
from include.imports.sources import SourceConfig, load_sources
from include.stewardship.actions import Context

TODAY = date(2025, 6, 2)
CSV_HEADER = "email,first_name,last_name,phone,external_id,date_of_birth\n"
APP_TABLES = ("accounts", "users", "patient_profiles", "invites", "chat_sessions", "chat_messages", "patients")
ACCOUNT = "acct-clinic-north"  # the sample CSV source's account (clinic-north-csv)


def ctx(dry_run: bool = False) -> Context:
    return Context(actor="steward-test", origin="test", dry_run=dry_run)


@pytest.fixture
def steward_db(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> sa.Engine:
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    with engine.begin() as conn:
        for acct in sorted({s.account_id for s in load_sources().values()} | {"acct-other"}):
            conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:i, :i)"), {"i": acct})
    monkeypatch.setattr(settings, "RUNS_DIR", tmp_path / "runs")
    return engine


def account_of_csv_source() -> str:
    return load_sources()["clinic-north-csv"].account_id


@pytest.fixture
def csv_source(tmp_path: Path) -> SourceConfig:
    landing = tmp_path / "landing" / "clinic-test"
    (landing / "incoming").mkdir(parents=True)
    north = load_sources()["clinic-north-csv"]
    return north.with_overrides(id="clinic-north-csv", landing=str(landing), column_mapping=None,
                                date_formats=("%Y-%m-%d",), max_reject_ratio=0.5)


@pytest.fixture
def drop_csv(csv_source: SourceConfig) -> Callable[..., str]:
    def write(name: str, rows: list[str]) -> str:
        path = Path(csv_source.incoming()) / name
        path.write_text(CSV_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def sources_file(csv_source: SourceConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make load_sources() return the test source under its configured id (replay looks sources up)."""
    import yaml

    from include.imports import sources as sources_mod

    entries = []
    for s in load_sources().values():
        src = csv_source if s.id == csv_source.id else s
        entry = {k: getattr(src, k) for k in src.__dataclass_fields__}
        entry["date_formats"] = list(entry["date_formats"])
        entry["quarantine_formula_prefixes"] = list(entry["quarantine_formula_prefixes"])
        entries.append({k: v for k, v in entry.items() if v is not None})
    path = tmp_path / "clinic_sources.yaml"
    path.write_text(yaml.safe_dump({"sources": entries}))
    monkeypatch.setenv(sources_mod.SOURCES_PATH_ENV, str(path))
    return path


def checksums(engine: sa.Engine) -> dict[str, str]:
    """md5 of every application table's rows (as text, in id order): byte-identical or not."""
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) "
                                        f"FROM {t} x")).scalar() for t in APP_TABLES}


def rows(engine: sa.Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def execute(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for s in statements:
            conn.execute(sa.text(s))
