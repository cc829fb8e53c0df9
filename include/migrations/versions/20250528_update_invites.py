"""Add `invites.patient_id` and `chat_sessions.patient_id` (nullable, FK patients).

Revision ID: 20250528_update_invites
Revises: 20250527_create_patients
Create Date: 2025-05-28
"""

from alembic import op

from include.migrations import ddl

revision = "20250528_update_invites"
down_revision = "20250527_create_patients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every statement below is its own short transaction (autocommit block), so waiting for the lock on
    # one busy table never holds an exclusive lock on the other meanwhile.
    with op.get_context().autocommit_block():
        # Nullable columns without default: catalog-only, the ACCESS EXCLUSIVE lock lasts milliseconds.
        ddl.add_column("invites", "patient_id varchar(36)", "patient_id")
        ddl.add_column("chat_sessions", "patient_id varchar(36)", "patient_id")
        # NOT VALID: no scan while the lock is held.
        ddl.add_foreign_key_not_valid("invites", "invites_patient_id_fkey", "patient_id", "patients", "id",
                                      "RESTRICT")
        ddl.add_foreign_key_not_valid(
            "chat_sessions", "chat_sessions_patient_id_fkey", "patient_id", "patients", "id", "RESTRICT")
        # Each VALIDATE is its own transaction under SHARE UPDATE EXCLUSIVE: traffic continues.
        ddl.validate_constraint("invites", "invites_patient_id_fkey")
        ddl.validate_constraint("chat_sessions", "chat_sessions_patient_id_fkey")
        # CONCURRENTLY: no write lock on the busy legacy tables.
        ddl.create_index_concurrently("ix_invites_patient_id", "invites", "patient_id")
        ddl.create_index_concurrently("ix_chat_sessions_patient_id", "chat_sessions", "patient_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        ddl.drop_index_concurrently("ix_chat_sessions_patient_id")
        ddl.drop_index_concurrently("ix_invites_patient_id")
    ddl.drop_constraint("chat_sessions", "chat_sessions_patient_id_fkey")
    ddl.drop_constraint("invites", "invites_patient_id_fkey")
    # Dropping a column is catalog-only; the links it held are archived by the rollback DAG first.
    ddl.drop_column("chat_sessions", "patient_id")
    ddl.drop_column("invites", "patient_id")
