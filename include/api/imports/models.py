"""Request and response models of the imports routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class UploadAccepted(BaseModel):
    file_id: int = Field(description="The import ledger entry of the upload")
    status: str = Field(description="Ledger status (registered, staged, merged, done, ...)")
    status_url: str
    source_id: str = Field(description="The account's upload source (clinic_sources.yaml)")
    sha256: str
    size_bytes: int
    duplicate: bool = Field(False, description="true: the same bytes were uploaded before; nothing is imported again")
    import_run: Literal["triggered", "next_scheduled_run", "already_registered"] = Field(
        description="triggered: clinic_patient_import was started through Airflow's REST API; else the next run takes it")
    dag_run_id: str | None = None
    message: str


class ImportStatus(BaseModel):
    file_id: int
    source_id: str
    source_kind: str = Field(description="file (a clinic file or an upload) or api (an API call)")
    status: str
    reason_code: str | None = None
    reason_message: str | None = Field(default=None, description="what to fix when the file was rejected or held "
                                       "(column, segment or element path; never a value)")
    rows_read: int | None = None
    inserted: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    duplicates: int | None = None
    quarantined: int | None = None
    review_items: int | None = None
    field_issue_rows: int | None = Field(default=None, description="rows imported without an invalid optional value")
    reconciled: bool | None = None
    duplicate_of: int | None = None
    registered_at: datetime
    finished_at: datetime | None = None
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    field_issues_by_reason: dict[str, int] = Field(default_factory=dict)
