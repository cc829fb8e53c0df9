"""Uploads into the account's upload source, and the ledger status of any import.

An upload is streamed (1 MiB blocks) into ``<landing>/incoming/.<name>.part`` of the account's upload
source (a hidden ``.part`` name, which discovery ignores), hashed on the way (SHA-256), then renamed to
its final name and registered in the import ledger (``registered``): from there it is an ordinary clinic
delivery, imported by ``clinic_patient_import`` with the source's column mapping, its quarantine, GX gate
and reports. The same bytes uploaded twice find the first ledger row and are not landed again. Local
landing files are owner-only (0600, folders 0700): they hold PHI.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from include.api import intake, sql
from include.api.errors import Problem, not_found
from include.api.imports import airflow_trigger
from include.api.imports.models import ImportStatus, UploadAccepted
from include.api.limits import body_too_large_detail
from include.api.settings import ApiSettings
from include.imports import landing, ledger

BLOCK = 1 << 20


def import_status(engine: sa.Engine, file_id: int, account_id: str, all_accounts: bool) -> ImportStatus:
    with engine.connect() as conn:
        row = sql.run(conn, "import_status", file_id=file_id, account_id=account_id,
                      all_accounts=all_accounts).mappings().first()
        conn.commit()
    if row is None:
        raise not_found("import")
    data = dict(row)
    data.pop("account_id")
    return ImportStatus(**data)


def _incoming(settings: ApiSettings, source) -> str:
    return landing.landing_for(source, settings.landing_root) + "/incoming"


def _write_part(src: BinaryIO, folder: str, part_name: str, limit: int) -> tuple[str, str, int]:
    path = landing.as_path(folder)
    local = isinstance(path, Path)
    if local:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        path.mkdir(parents=True, exist_ok=True)
    part = path / part_name
    digest, size = hashlib.sha256(), 0
    if local:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        out = os.fdopen(fd, "wb")
    else:
        out = part.open("wb")
    try:
        with out:
            while block := src.read(BLOCK):
                size += len(block)
                if size > limit:
                    raise Problem(413, "body_too_large", body_too_large_detail(limit), limit_bytes=limit)
                digest.update(block)
                out.write(block)
    except BaseException:
        part.unlink(missing_ok=True) if local else part.unlink()
        raise
    return str(part), digest.hexdigest(), size


def upload_csv(engine: sa.Engine, settings: ApiSettings, account_id: str, src: BinaryIO,
               status_url: str) -> tuple[int, UploadAccepted]:
    """Land, fingerprint and register one upload; trigger the import. Returns (HTTP status, answer)."""
    source = intake.upload_source(account_id, settings)
    if source is None or source.format != "csv":
        raise Problem(409, "upload_source_not_configured",
                      f"this account has no CSV upload source; add `{settings.upload_source_prefix}<account_id>` "
                      "(format csv, landing, column_mapping) to include/config/clinic_sources.yaml")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    token = secrets.token_hex(4)
    folder = _incoming(settings, source)
    part, sha, size = _write_part(src, folder, f".upload-{stamp}-{token}.csv.part", settings.max_upload_bytes)
    if size == 0:
        landing.as_path(part).unlink()
        raise Problem(422, "empty_file", "the uploaded file is empty")
    with engine.connect() as conn:
        earlier = sql.run(conn, "upload_by_content", source_id=source.id, sha256=sha).mappings().first()
        conn.commit()
        if earlier is not None:
            landing.as_path(part).unlink()
            return 200, _accepted(source.id, earlier["file_id"], earlier["status"], sha, size, status_url, True,
                                  "already_registered", None, "the same bytes were uploaded before; "
                                  "nothing is imported again (see the earlier file's status)")
        final = landing.as_path(folder) / f"upload-{stamp}-{sha[:12]}.csv"
        try:
            reg = ledger.register(conn, source, final.name, str(final), sha, size, f"api-upload:{token}")
        except sa.exc.IntegrityError:  # the same bytes registered concurrently
            landing.as_path(part).unlink()
            earlier = sql.run(conn, "upload_by_content", source_id=source.id, sha256=sha).mappings().one()
            conn.commit()
            return 200, _accepted(source.id, earlier["file_id"], earlier["status"], sha, size, status_url, True,
                                  "already_registered", None, "the same bytes were uploaded at the same time")
        landing.as_path(part).rename(final)
    file_id = reg.row.file_id
    trig = airflow_trigger.trigger(settings.airflow_url, source.id, settings.landing_root, file_id)
    if trig.triggered:
        return 202, _accepted(source.id, file_id, reg.row.status, sha, size, status_url, False, "triggered",
                              trig.dag_run_id, "clinic_patient_import was triggered for this source")
    why = "Airflow is not configured for the API" if trig.why_not == "not_configured" else "the trigger failed"
    return 202, _accepted(source.id, file_id, reg.row.status, sha, size, status_url, False, "next_scheduled_run",
                          None, f"{why}: the next clinic_patient_import run imports the file")


def _accepted(source_id: str, file_id: int, status: str, sha: str, size: int, status_url: str, duplicate: bool,
              run: str, dag_run_id: str | None, message: str) -> UploadAccepted:
    return UploadAccepted(file_id=file_id, status=status, status_url=status_url.format(file_id=file_id),
                          source_id=source_id, sha256=sha, size_bytes=size, duplicate=duplicate, import_run=run,
                          dag_run_id=dag_run_id, message=message)
