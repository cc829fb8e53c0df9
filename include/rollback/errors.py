"""The rollback's own errors: each message says what happened (ids and counts only) and what to do next."""

from __future__ import annotations

from include.core.errors import GenascopeError


class RollbackError(GenascopeError, RuntimeError):
    """Base class of the rollback's errors."""


class UnknownTarget(RollbackError):
    """target_revision is not a revision the rollback can go down to."""


class ArchiveNotStarted(RollbackError):
    """The archive of this run has no header: preflight did not run for it."""


class ArchiveIncomplete(RollbackError):
    """The archive of this run does not hold every live row/link it must hold before a drop."""


class DowngradeOutOfOrder(RollbackError):
    """The database is not at the revision this downgrade step expects."""


class RollbackVerificationFailed(RollbackError):
    """After the downgrade, the schema, the legacy checksums or the archive counts are not as expected."""


class RestoreNotPossible(RollbackError):
    """The restore cannot run at this revision (it needs 20250529_update_patients)."""
