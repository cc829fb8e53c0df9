"""Request and response models of the patients routes (the OpenAPI schema at /docs comes from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PatientStatus = Literal["pending", "active", "inactive", "archived"]
RowOutcome = Literal["inserted", "updated", "unchanged", "duplicate", "quarantined"]


class PatientIn(BaseModel):
    """One patient as the platform sends it (the fields of its CSV header). Values are checked by the import's
    normalizers, not here, so a bad value answers with the import's reason code (``invalid_email``, ...)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "external_id": "MRN-1001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org",
        "phone": "+12025550100", "date_of_birth": "1980-12-10"}]})

    external_id: str | None = Field(None, description="The clinic's identifier (MRN); matches first")
    first_name: str | None = Field(None, description="Required by the import's rules")
    last_name: str | None = Field(None, description="Required by the import's rules")
    email: str | None = Field(None, description="Matched on its key form together with the first name")
    phone: str | None = Field(None, description="Normalized to E.164 with the source's default region")
    date_of_birth: str | None = Field(None, description="ISO date YYYY-MM-DD")
    account_id: str | None = Field(None, description="Only an admin key may name another account than its own")
    identifier_namespace: str | None = Field(
        None, max_length=255, pattern=r"^\S(.*\S)?$",
        description="The system that issued external_id (e.g. a FHIR identifier system or an HL7 assigning "
                    "authority): the identifier is matched and recorded in this namespace; default: the "
                    "account's API namespace. A second system's identifier for a known patient is linked to it.")

    @field_validator("identifier_namespace")
    @classmethod
    def _namespace_not_blank(cls, value: str | None) -> str | None:
        # the pattern's \S is Unicode's; the clinic sources' rule strips as Python does (\x1c-\x1f too)
        if value is not None and not value.strip():
            raise ValueError("identifier_namespace must not be blank")
        return value

    def record(self) -> dict[str, str | None]:
        return self.model_dump(exclude={"account_id", "identifier_namespace"})


class Patient(BaseModel):
    id: str
    account_id: str | None
    clinician_id: str | None
    external_id: str | None
    email: str | None
    first_name: str
    last_name: str
    phone: str | None
    date_of_birth: date | None
    status: PatientStatus
    created_at: datetime
    updated_at: datetime


class CreatedPatient(Patient):
    matched: bool = Field(description="true: an existing patient by the import's matching rules (200)")
    outcome: RowOutcome
    file_id: int = Field(description="The import ledger entry of this call (source kind api)")


class RowResult(BaseModel):
    index: int = Field(description="0-based position of the row in the request")
    outcome: RowOutcome
    patient_id: str | None = None
    reason_codes: list[str] = Field(default_factory=list)
    field: str | None = None
    conflicting_patient_ids: list[str] = Field(default_factory=list)


class BulkCounts(BaseModel):
    rows: int
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    quarantined: int
    review_items: int


class BulkResult(BaseModel):
    file_id: int = Field(description="The import ledger entry of this call (source kind api)")
    reconciled: bool = Field(description="rows = inserted + updated + unchanged + duplicates + quarantined")
    counts: BulkCounts
    rows: list[RowResult]
    idempotent_replay: bool = False


class PatientPage(BaseModel):
    items: list[Patient]
    next: str | None = Field(None, description="Opaque cursor of the next page (pass as `cursor`); null at the end")
