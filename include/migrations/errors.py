"""Refusals raised by the revisions, importable so callers (DAG tasks, tests) can catch them by type.

(Alembic loads revision files under generated module names, so classes defined inside a revision
could not be caught.)
"""

from include.core.errors import GenascopeError


class MigrationRefused(GenascopeError, RuntimeError):
    """A revision refused to run; nothing was changed by the refused step."""


class InvitesNotLinked(MigrationRefused):
    """20250530_finalize_invites: some invites have no patient yet."""


class PatientsNotArchived(MigrationRefused):
    """Downgrading 20250527_create_patients would drop patient rows that were not archived."""


class LegacySchemaDropRefused(MigrationRefused):
    """Downgrading below the baseline would drop the legacy tables (application data)."""
