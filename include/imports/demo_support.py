"""Landing folders for the demo and for `make airflow`: copies of the sample clinics' deliveries.

The nightly DAG moves what it imports from ``incoming/`` to ``processed/`` (or ``rejected/``), so it must
never run on the repository's own sample files. ``make demo`` and ``make airflow`` lay a copy under
``landing/`` (git-ignored), which is what the Variable ``genascope_landing_root`` points at.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import sqlalchemy as sa

from include.core import db, private_files, settings
from include.imports.sources import load_sources

SAMPLE_CLINICS = settings.INCLUDE_DIR / "sample_data" / "clinics"
DEFAULT_LANDING = settings.PROJECT_ROOT / "landing"


def lay_out_landing(root: Path = DEFAULT_LANDING, *, fresh: bool = False) -> Path:
    """Copy each sample clinic's ``incoming/`` files under ``root/<clinic>/incoming`` (existing files kept
    unless ``fresh``), owner-only like any delivery holding PHI (0700 folders, 0600 files). Returns ``root``."""
    if fresh and root.exists():
        shutil.rmtree(root)
    for clinic in sorted(p for p in SAMPLE_CLINICS.iterdir() if p.is_dir()):
        target = private_files.ensure_dir(root / clinic.name / "incoming", within=root)
        for sample in sorted((clinic / "incoming").iterdir()):
            if not (target / sample.name).exists():
                private_files.copy_file(sample, target / sample.name)
    return root


def ensure_demo_accounts(uri: str) -> list[str]:
    """Create the sample sources' accounts in a demo/test database (production accounts must exist already)."""
    accounts = sorted({s.account_id for s in load_sources().values()})
    with db.app_engine(uri).begin() as conn:
        for account_id in accounts:
            conn.execute(sa.text(
                "INSERT INTO accounts (id, name, status) VALUES (:id, :name, 'active') ON CONFLICT (id) DO NOTHING"),
                {"id": account_id, "name": f"Sample clinic {account_id}"})
    return accounts


def prepare_demo_landing(uri: str, root: Path) -> Path:
    ensure_demo_accounts(uri)
    return lay_out_landing(root, fresh=True)


if __name__ == "__main__":  # `make airflow`: python -m include.imports.demo_support
    print(f"sample clinic deliveries laid out under {lay_out_landing()}", file=sys.stderr)
