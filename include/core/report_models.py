"""The report models: what each DAG's run report holds, shared by the steps that write it and the UI that
reads it (the Report tab, the Patient pipeline page). One definition per report, so a key is written and
read under the same name (``QUARANTINE_MISSING_NAME`` is the migration report's quarantine list).

- Import nights: :class:`FileResult` (``imports/file_<id>.json``, the ``import_file`` XCom) and
  :class:`NightSummary` (``night_summary.json``): dataclasses, written with ``as_xcom()``.
- Migration, rollback, stewardship and housekeeping runs: ``report.json`` as the typed dicts below
  (``include/core/run_report.py`` writes them, ``generated_at`` added). Which DAG writes which report:
  ``include/core/pipeline_dags.py``.

Ids, counts, reason codes and revision ids only: never a row value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

#: The migration report's invites held back because neither the invite nor its user has a name.
QUARANTINE_MISSING_NAME = "quarantine_invite_ids (missing_name)"


@dataclass
class FileResult:
    """What one file's import did (ids, counts, reason codes): the import_file task's XCom."""

    source_id: str
    file_id: int | None
    status: str
    reason_code: str | None = None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    review_items: int = 0
    held_back: int = 0  # rows of a held file that would have been merged (nothing is merged)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    notes_by_code: dict[str, int] = field(default_factory=dict)
    field_issue_rows: int = 0  # rows imported without an invalid optional value (docs/contracts/imports.md field issues)
    field_issues_by_reason: dict[str, int] = field(default_factory=dict)
    field_issues_by_field: dict[str, int] = field(default_factory=dict)  # "phone:unparseable_phone" -> n
    unsupported_messages: int = 0  # HL7 messages of types the import does not read (not records)
    reason_message: str | None = None  # what the operator should know about reason_code (PHI-free)
    reconciled: bool | None = None
    gx_success: bool | None = None
    duplicate_of: int | None = None
    dry_run: bool = False
    report_path: str | None = None
    file_name: str | None = None  # the delivery's name in the landing (names are shown as the landing shows them)

    def as_xcom(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NightSummary:
    run_id: str
    sources: dict[str, dict[str, Any]]
    gx_success: bool | None
    held_files: list[int]
    unreconciled_files: list[int]
    summary_path: str
    #: file id -> the delivery's name (as the landing shows it), for every file of the night
    file_names: dict[str, str] = field(default_factory=dict)
    #: when the night imported no file: why (files taken by another run, or nothing in incoming/)
    nothing_imported: str | None = None

    def as_xcom(self) -> dict[str, Any]:
        return asdict(self)



class _RunReport(TypedDict, total=False):
    generated_at: str
    status: str
    failures: list[dict[str, str]]
    notes: list[str]


# A functional TypedDict: one key of this report is not an identifier (QUARANTINE_MISSING_NAME).
_MigrationSections = TypedDict("_MigrationSections", {
    "params": dict[str, Any],
    "summary": dict[str, Any],
    "approvals": dict[str, dict[str, Any]],
    "preflight": dict[str, Any],
    "legacy_checksums_before": dict[str, Any],
    "schema_steps": list[dict[str, Any]],
    "backfill_phases": list[dict[str, Any]],
    "gates": list[dict[str, Any]],
    "restored_archived_patients": dict[str, Any],
    "finalize": dict[str, Any],
    QUARANTINE_MISSING_NAME: list[str],
    "review_queue_invite_ids": list[str],
    "auto_rollback": dict[str, Any],
    "identity_matcher": dict[str, Any],
}, total=False)


class MigrationReport(_RunReport, _MigrationSections, total=False):
    """``patient_first_migration``'s ``report.json`` (include/migration_run/report.py)."""


class RollbackReport(_RunReport, total=False):
    """``patient_first_rollback``'s ``report.json`` (include/rollback/report.py)."""

    params: dict[str, Any]
    summary: dict[str, Any]
    approvals: dict[str, dict[str, Any]]
    preflight: dict[str, Any]
    would_drop: dict[str, dict[str, int]]
    legacy_checksums_before: dict[str, Any]
    archive: dict[str, Any]
    export: dict[str, Any]
    downgrade_steps: list[dict[str, Any]]
    gates: list[dict[str, Any]]


class StewardshipReport(_RunReport, total=False):
    """``patient_stewardship``'s ``report.json`` (include/stewardship/report.py)."""

    run_id: str
    actor: str
    origin: str
    dry_run: bool
    request: dict[str, Any]
    results: list[dict[str, Any]]
    error: str
    open_review_items: dict[str, int]
    open_quarantine_rows: int


class HousekeepingReport(_RunReport, total=False):
    """``pipeline_housekeeping``'s ``report.json`` (include/housekeeping/runner.py); a dry run has
    ``would_remove`` where a real run has ``removed``."""

    dry_run: bool
    as_of: str
    removed: dict[str, int]
    would_remove: dict[str, int]
    kept_because_needed: dict[str, int]
    kept_younger_than_age: dict[str, int]
    cutoffs: dict[str, str]
    settings: dict[str, Any]


#: The report model of each kind of run (``PipelineDag.kind``).
REPORT_MODELS: dict[str, type] = {"migration": MigrationReport, "rollback": RollbackReport,
                                  "stewardship": StewardshipReport, "housekeeping": HousekeepingReport,
                                  "import": NightSummary}


def keys(model: type) -> frozenset[str]:
    """The keys a report model declares (a TypedDict's, or a dataclass's fields)."""
    if hasattr(model, "__dataclass_fields__"):
        return frozenset(model.__dataclass_fields__)
    return frozenset(model.__annotations__) | frozenset().union(*(getattr(b, "__annotations__", {}).keys()
                                                                   for b in model.__mro__[1:]))


__all__ = ["QUARANTINE_MISSING_NAME", "REPORT_MODELS", "FileResult", "HousekeepingReport", "MigrationReport",
           "NightSummary", "RollbackReport", "StewardshipReport", "keys"]
