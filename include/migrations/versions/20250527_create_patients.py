"""Create the `patients` table (docs/contracts/data-model.md §3) and its indexes.

Revision ID: 20250527_create_patients
Revises: 20250526_legacy_baseline
Create Date: 2025-05-27
"""

from alembic import context, op

from include.migrations.errors import PatientsNotArchived

revision = "20250527_create_patients"
down_revision = "20250526_legacy_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table: its FKs take a brief SHARE ROW EXCLUSIVE lock on accounts/users (bounded by
    # lock_timeout) and validate nothing, since the table is empty.
    op.execute(
        """
        CREATE TABLE patients (
            id varchar(36) NOT NULL,
            account_id varchar(36),
            clinician_id varchar(36),
            external_id varchar(255),
            email varchar(255),
            first_name varchar(100) NOT NULL,
            last_name varchar(100) NOT NULL,
            phone varchar(20),
            date_of_birth date,
            status varchar(20) NOT NULL DEFAULT 'pending',
            notes text,
            created_at timestamp without time zone NOT NULL DEFAULT now(),
            updated_at timestamp without time zone NOT NULL DEFAULT now(),
            CONSTRAINT patients_pkey PRIMARY KEY (id),
            CONSTRAINT patients_account_id_fkey FOREIGN KEY (account_id)
                REFERENCES accounts (id) ON DELETE SET NULL,
            CONSTRAINT patients_clinician_id_fkey FOREIGN KEY (clinician_id)
                REFERENCES users (id) ON DELETE SET NULL,
            CONSTRAINT ck_patients_status CHECK (status IN ('pending', 'active', 'inactive', 'archived')),
            CONSTRAINT ck_patients_first_name_not_blank CHECK (btrim(first_name) <> ''),
            CONSTRAINT ck_patients_last_name_not_blank CHECK (btrim(last_name) <> '')
        )
        """
    )
    # Indexes on the new, empty table in the same transaction: nobody can be waiting on it yet.
    op.execute(
        "CREATE UNIQUE INDEX ux_patients_account_external_id ON patients (account_id, external_id) "
        "WHERE external_id IS NOT NULL"
    )
    # One patient per identity key (docs/contracts/data-model.md §4 rule 3): account, e-mail key, first-name key.
    # NULLS NOT DISTINCT (PostgreSQL 15+) so the "no resolvable account" bucket is unique too.
    op.execute(
        "CREATE UNIQUE INDEX ux_patients_identity_key ON patients "
        "(account_id, lower(btrim(email)), lower(btrim(first_name))) NULLS NOT DISTINCT WHERE email IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_patients_clinician_id ON patients (clinician_id)")


def downgrade() -> None:
    # Dropping `patients` deletes patient records. The rollback DAG archives them first and passes
    # the archive's run id; from the command line an empty table drops, a non-empty one needs
    # `-x patients_archived=yes` after you have archived (or accepted losing) them.
    consent = context.get_x_argument(as_dictionary=True).get("patients_archived")
    consent = consent or context.config.attributes.get("patients_archived")
    refusal = ("refusing to drop table patients with {n} rows: run the patient_first_rollback DAG "
               "(it archives every patient first), or pass -x patients_archived=yes once they are archived.")
    if consent != "yes" and context.is_offline_mode():
        op.execute(
            "DO $$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM patients; "
            f"IF n > 0 THEN RAISE EXCEPTION '{refusal.format(n='%')}', n; END IF; END $$"
        )
    elif consent != "yes":
        import sqlalchemy as sa

        rows = op.get_bind().execute(sa.text("SELECT count(*) FROM patients")).scalar()
        if rows:
            raise PatientsNotArchived(refusal.format(n=rows))
    op.execute("DROP TABLE patients")
