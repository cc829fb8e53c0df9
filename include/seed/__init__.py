"""The one seeded, deterministic generator of synthetic legacy data (demo, tests, benchmarks).

* :func:`generate` loads ``invites`` legacy invites (plus accounts, staff, patient users, profiles,
  chat sessions and messages) into a database at ``20250526_legacy_baseline`` with ``COPY``.
* :class:`LegacyGenerator` is the pure layer (rows in FK-complete chunks, no database).
* :func:`write_clinic_csv` streams a clinic CSV in the platform header.

CLI: ``python -m include.seed --help``.
"""

from include.seed.clinic_csv import CLINIC_HEADER, ClinicCsvSummary, write_clinic_csv
from include.seed.generator import (
    COLUMNS,
    OPEN_EXPIRY_REFERENCE,
    REFERENCE_TIME,
    TABLES,
    Chunk,
    LegacyGenerator,
    SeedParameterError,
    SeedSummary,
    generate_rows,
)
from include.seed.loader import (
    SeedIntegrityError,
    SeedPermissionError,
    SeedTargetNotEmpty,
    SeedTargetNotReady,
    check_target,
    generate,
    load,
    verify_references,
)

__all__ = [
    "CLINIC_HEADER", "COLUMNS", "OPEN_EXPIRY_REFERENCE", "REFERENCE_TIME", "TABLES", "Chunk", "ClinicCsvSummary",
    "LegacyGenerator", "SeedIntegrityError", "SeedParameterError", "SeedPermissionError", "SeedSummary", "SeedTargetNotEmpty", "SeedTargetNotReady",
    "check_target", "generate", "generate_rows", "load", "verify_references", "write_clinic_csv",
]
