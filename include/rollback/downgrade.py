"""Downgrade one revision per step, newest first, down to the rollback's target revision.

Each step removes exactly one revision (20250530 -> 29 -> 28 -> 27 -> baseline). Right before a step
drops something (patients.user_id, the invites/chat_sessions links, the patients table) it re-syncs
and re-verifies this run's archive of what it drops, in one snapshot: only then does it run the
downgrade, and only then does the patients table's downgrade get ``patients_archived="yes"``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from include.core import alembic_driver, settings
from include.rollback import archive
from include.rollback.errors import ArchiveIncomplete, DowngradeOutOfOrder, UnknownTarget
from include.rollback.targets import DOWNGRADE_TASKS, TARGETS

__all__ = ["DOWNGRADE_TASKS", "DROPS", "TARGETS", "DowngradeStep", "check_target", "down_to", "downgrade_one",
           "is_needed", "revisions_to_remove"]

log = logging.getLogger(__name__)

#: revision -> the archive sources its downgrade drops.
DROPS: dict[str, tuple[str, ...]] = {
    settings.REV_FINALIZE_INVITES: (),
    settings.REV_UPDATE_PATIENTS: (archive.USER,),
    settings.REV_UPDATE_INVITES: (archive.INVITE, archive.CHAT_SESSION),
    settings.REV_CREATE_PATIENTS: (archive.PATIENTS, archive.USER, archive.INVITE, archive.CHAT_SESSION),
}


@dataclass(frozen=True)
class DowngradeStep:
    revision: str          # the revision this step removes
    down_to: str           # the revision the database is at afterwards
    applied: bool          # False: the database was already below (a rerun)
    before: str | None
    after: str | None
    archive_rechecked: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise UnknownTarget(f"target_revision {target!r} is not a rollback target; choose one of {', '.join(TARGETS)}")
    return target


def down_to(revision: str) -> str:
    """The revision below ``revision``."""
    return settings.ALL_REVISIONS[settings.ALL_REVISIONS.index(revision) - 1]


def is_needed(revision: str, target: str) -> bool:
    """Does a rollback to ``target`` remove ``revision``? (False: the task is skipped.)"""
    return alembic_driver.revision_index(revision) > alembic_driver.revision_index(check_target(target))


def revisions_to_remove(current: str | None, target: str) -> list[str]:
    """The revisions a rollback from ``current`` to ``target`` removes, newest first."""
    lo, hi = alembic_driver.revision_index(check_target(target)), alembic_driver.revision_index(current)
    return [r for r in reversed(settings.ALL_REVISIONS) if lo < alembic_driver.revision_index(r) <= hi]


def downgrade_one(conn: sa.Connection, run_id: str, revision: str, *,
                  lock_timeout_ms: int = settings.DEFAULT_LOCK_TIMEOUT_MS) -> DowngradeStep:
    """Remove ``revision`` (a no-op when the database is already below it).

    Raises :class:`DowngradeOutOfOrder` when the database is above ``revision`` (a newer revision's
    step has not run) and :class:`ArchiveIncomplete` when this run's archive is not verified or does
    not hold every row/link this step drops.
    """
    started = time.monotonic()
    current = alembic_driver.current_revision(conn)
    target = down_to(revision)
    if alembic_driver.revision_index(current) < alembic_driver.revision_index(revision):
        log.info("downgrade of %s: database already at %s; nothing to do", revision, current)
        return DowngradeStep(revision, target, False, current, current, {}, round(time.monotonic() - started, 3))
    if current != revision:
        raise DowngradeOutOfOrder(
            f"the database is at {current}, but this step removes {revision}: the newer revisions' steps must "
            "run first. Clear the downgrade tasks of this run from the first one that is not green.")
    if not archive.is_verified(conn, run_id):
        raise ArchiveIncomplete(
            f"the archive of rollback run {run_id} is not verified, so nothing may be dropped. "
            "Clear the archive tasks of this run (they converge) and let verify_archive pass first.")
    rechecked: dict[str, int] = {}
    if DROPS[revision]:
        check = archive.sync_and_verify(conn, run_id)
        rechecked = {c.source: c.archived_rows for c in check.checks if c.source in DROPS[revision]}
    consents = {"patients_archived": "yes"} if revision == settings.REV_CREATE_PATIENTS else {}
    result = alembic_driver.downgrade(conn, target, lock_timeout_ms=lock_timeout_ms, **consents)
    log.info("removed %s (database now at %s); archive re-checked: %s", revision, result.after, rechecked)
    return DowngradeStep(revision, target, result.applied, result.before, result.after, rechecked,
                         round(time.monotonic() - started, 3))
