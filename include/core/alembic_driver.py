"""Run the alembic revisions from Python (DAG tasks, demo, tests) on a connection we hand in."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from include.core import settings
from include.core.errors import GenascopeError

log = logging.getLogger(__name__)


class UnknownRevision(GenascopeError, RuntimeError):
    """The database carries an alembic revision this project does not know."""


@dataclass(frozen=True)
class StepResult:
    revision: str
    direction: str
    applied: bool  # False: it was already there (skipped)
    before: str | None
    after: str | None


def alembic_config(**attributes: object) -> Config:
    """The project's alembic.ini in a checkout; where the package is installed (a wheel has no alembic.ini),
    the same settings built here: the revisions are in the package (include/migrations)."""
    if settings.ALEMBIC_INI.exists():
        cfg = Config(str(settings.ALEMBIC_INI))
    else:
        cfg = Config()
        cfg.set_main_option("script_location", str(settings.INCLUDE_DIR / "migrations"))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option("version_table", "alembic_version")
    cfg.attributes["configure_logger"] = False
    cfg.attributes.update(attributes)
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (None: an unversioned database)."""
    rev = MigrationContext.configure(conn).get_current_revision()
    if conn.in_transaction():
        conn.commit()
    if rev is not None and rev not in settings.ALL_REVISIONS:
        raise UnknownRevision(
            f"the database is at alembic revision {rev!r}, which this project does not know; "
            f"expected one of {', '.join(settings.ALL_REVISIONS)}"
        )
    return rev


def revision_index(rev: str | None) -> int:
    """-1 for an unversioned database, 0 for the baseline, 4 for finalize."""
    return -1 if rev is None else settings.ALL_REVISIONS.index(rev)


def _attributes(conn: sa.Connection, lock_timeout_ms: int | None, lock_retries: int | None,
                extra: dict[str, object]) -> dict[str, object]:
    attrs: dict[str, object] = {"connection": conn, **extra}
    if lock_timeout_ms is not None:
        attrs["lock_timeout_ms"] = lock_timeout_ms
    if lock_retries is not None:
        attrs["lock_retries"] = lock_retries
    return attrs


def upgrade(conn: sa.Connection, target: str, *, lock_timeout_ms: int | None = None,
            lock_retries: int | None = None) -> StepResult:
    """Upgrade to ``target``; a no-op (applied=False) when the database is already at or past it."""
    before = current_revision(conn)
    if revision_index(before) >= revision_index(target):
        log.info("revision %s already applied (database at %s); skipping", target, before)
        return StepResult(target, "upgrade", False, before, before)
    command.upgrade(alembic_config(**_attributes(conn, lock_timeout_ms, lock_retries, {})), target)
    after = current_revision(conn)
    log.info("upgraded %s -> %s", before, after)
    return StepResult(target, "upgrade", True, before, after)


def downgrade(conn: sa.Connection, target: str, *, lock_timeout_ms: int | None = None,
              lock_retries: int | None = None, **consents: str) -> StepResult:
    """Downgrade to ``target`` (a no-op when already at or below it). ``consents`` go to the revisions
    (``patients_archived="yes"``, ``drop_legacy_schema="yes"``)."""
    before = current_revision(conn)
    target_index = -1 if target == "base" else revision_index(target)
    if revision_index(before) <= target_index:
        log.info("already at or below %s (database at %s); skipping", target, before)
        return StepResult(target, "downgrade", False, before, before)
    command.downgrade(alembic_config(**_attributes(conn, lock_timeout_ms, lock_retries, dict(consents))), target)
    after = current_revision(conn)
    log.info("downgraded %s -> %s", before, after)
    return StepResult(target, "downgrade", True, before, after)


def stamp(conn: sa.Connection, target: str) -> None:
    command.stamp(alembic_config(connection=conn), target)
    if conn.in_transaction():
        conn.commit()
