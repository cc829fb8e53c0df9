"""Make `invites.patient_id` NOT NULL (after the backfill linked every invite).

Revision ID: 20250530_finalize_invites
Revises: 20250529_update_patients
Create Date: 2025-05-30
"""

from alembic import context, op

from include.migrations import ddl
from include.migrations.errors import InvitesNotLinked

revision = "20250530_finalize_invites"
down_revision = "20250529_update_patients"
branch_labels = None
depends_on = None

CHECK = "ck_invites_patient_id_not_null"


REFUSAL = ("refusing to make invites.patient_id NOT NULL: {n} invites are not linked to a patient. "
           "Run the backfill (patient_first_migration) and fix the quarantined invites first.")


def upgrade() -> None:
    # CHECK ... NOT VALID takes a brief lock and scans nothing; from here on no new unlinked invite can
    # be written, so the count below (same transaction, index on patient_id) cannot be outrun.
    ddl.add_check_not_valid("invites", CHECK, "patient_id IS NOT NULL")
    if context.is_offline_mode():
        op.execute(
            "DO $$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM invites WHERE patient_id IS NULL; "
            f"IF n > 0 THEN RAISE EXCEPTION '{REFUSAL.format(n='%')}', n; END IF; END $$"
        )
    else:
        import sqlalchemy as sa

        unlinked = op.get_bind().execute(sa.text("SELECT count(*) FROM invites WHERE patient_id IS NULL")).scalar()
        if unlinked:
            raise InvitesNotLinked(REFUSAL.format(n=unlinked))  # rolls the check back with the transaction
    with op.get_context().autocommit_block():
        # The scan happens here, under SHARE UPDATE EXCLUSIVE.
        ddl.validate_constraint("invites", CHECK)
    # With a valid CHECK proving it, SET NOT NULL skips the full-table scan (PostgreSQL 12+).
    op.execute("ALTER TABLE invites ALTER COLUMN patient_id SET NOT NULL")
    ddl.drop_constraint("invites", CHECK)


def downgrade() -> None:
    op.execute("ALTER TABLE invites ALTER COLUMN patient_id DROP NOT NULL")
