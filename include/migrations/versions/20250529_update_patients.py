"""Add `patients.user_id` (nullable, FK users ON DELETE SET NULL, unique).

Revision ID: 20250529_update_patients
Revises: 20250528_update_invites
Create Date: 2025-05-29
"""

from alembic import op

from include.migrations import ddl

revision = "20250529_update_patients"
down_revision = "20250528_update_invites"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ddl.add_column("patients", "user_id varchar(36)", "user_id")
    ddl.add_foreign_key_not_valid("patients", "patients_user_id_fkey", "user_id", "users", "id", "SET NULL")
    with op.get_context().autocommit_block():
        ddl.validate_constraint("patients", "patients_user_id_fkey")
        # The unique constraint is attached to an index built concurrently (no write lock for the scan).
        ddl.create_index_concurrently("uq_patients_user_id", "patients", "user_id", unique=True)
    ddl.add_unique_using_index("patients", "uq_patients_user_id", "uq_patients_user_id")


def downgrade() -> None:
    ddl.drop_constraint("patients", "uq_patients_user_id")  # drops its index too
    ddl.drop_constraint("patients", "patients_user_id_fkey")
    ddl.drop_column("patients", "user_id")
