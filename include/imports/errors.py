"""The import's own errors; messages carry ids, counts and reason codes only and say what to do next.
(A file the import refuses is not an error: ``include.imports.records.FileRejected`` becomes its reason code.)"""

from __future__ import annotations

from include.core.errors import GenascopeError


class ImportPreconditionFailed(GenascopeError, RuntimeError):
    """The database is not ready for imports (revision, account, clinician); the message says what to do."""


class ImportStepFailed(GenascopeError, RuntimeError):
    """A file is not in the ledger status a step expects; the message says which and what to do.
    (Database errors leave every step as ``include.core.db_errors.DatabaseStepFailed``: no values.)"""


class FileVanished(GenascopeError, RuntimeError):
    """A discovered file is gone from incoming/ and the ledger does not know it as finished. The task fails
    (the night is not green); the message names the worker host, since a local landing a worker cannot see
    is the usual cause on a distributed deployment."""


class SimulatedInterruption(GenascopeError, RuntimeError):
    """Raised after the step named by ``stop_after`` (tests of re-entrance)."""
