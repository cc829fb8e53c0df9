"""The backfill's SQL files (include/sql/backfill/*.sql), loaded once as SQLAlchemy text()."""

from __future__ import annotations

import sqlalchemy as sa

from include.core import settings, sql_files

SQL_DIR = settings.SQL_DIR / "backfill"

#: The plan, in order: one statement per file.
PLAN_STEPS = (
    "plan_01_reset",
    "plan_02_invites",
    "plan_03_users",
    "plan_04_invite_names_from_users",
    "plan_05_existing_patients",
    "plan_06_nameless_invites",
    "plan_07_persons_from_invites",
    "plan_08_match_users",
    "plan_09_persons_from_users",
    "plan_10_person_attributes",
    "plan_11_quarantine_unresolvable",
    "plan_11b_users_linked_at_create",
    "plan_12_chats",
    "plan_13_clear_quarantine",
    "plan_14_record_quarantine",
    "plan_15_record_review_queue",
)


def statement(name: str) -> sa.TextClause:
    return sql_files.statement("backfill", name)
