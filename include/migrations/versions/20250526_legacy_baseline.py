"""Legacy (invite-first) schema, exactly as docs/contracts/data-model.md §1 describes production.

Demo, test and benchmark databases are built from nothing with this revision. An existing production
database is never upgraded through it: it is stamped at this revision after its schema has been
verified (``python -m include.cli stamp-baseline``).

Revision ID: 20250526_legacy_baseline
Revises:
Create Date: 2025-05-26
"""

from alembic import context, op

from include.migrations.errors import LegacySchemaDropRefused

revision = "20250526_legacy_baseline"
down_revision = None
branch_labels = None
depends_on = None

# New, empty tables: creating their indexes in the same transaction holds no lock anyone waits on.
LEGACY_DDL = (
    """
    CREATE TABLE accounts (
        id varchar(36) NOT NULL,
        name varchar(255) NOT NULL,
        domain varchar(255),
        status varchar(50) DEFAULT 'active',
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        updated_at timestamp without time zone NOT NULL DEFAULT now(),
        CONSTRAINT accounts_pkey PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE users (
        id varchar(36) NOT NULL,
        name varchar(255) NOT NULL,
        email varchar(255) NOT NULL,
        role varchar(32) NOT NULL,
        hashed_password varchar(255),
        account_id varchar(36),
        clinician_id varchar(36),
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        updated_at timestamp without time zone NOT NULL DEFAULT now(),
        CONSTRAINT users_pkey PRIMARY KEY (id),
        CONSTRAINT users_email_key UNIQUE (email)
    )
    """,
    """
    CREATE TABLE patient_profiles (
        id varchar(36) NOT NULL,
        user_id varchar(36) NOT NULL,
        date_of_birth timestamp without time zone,
        gender varchar(32),
        phone_number varchar(20),
        address text,
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        updated_at timestamp without time zone NOT NULL DEFAULT now(),
        CONSTRAINT patient_profiles_pkey PRIMARY KEY (id),
        CONSTRAINT patient_profiles_user_id_key UNIQUE (user_id),
        CONSTRAINT patient_profiles_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
    )
    """,
    """
    CREATE TABLE invites (
        id varchar(36) NOT NULL,
        email varchar(255) NOT NULL,
        first_name varchar(100),
        last_name varchar(100),
        phone varchar(32),
        invite_token varchar(64) NOT NULL,
        clinician_id varchar(36),
        user_id varchar(36),
        status varchar(32),
        custom_message text,
        session_metadata jsonb,
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        updated_at timestamp without time zone NOT NULL DEFAULT now(),
        expires_at timestamp without time zone,
        accepted_at timestamp without time zone,
        CONSTRAINT invites_pkey PRIMARY KEY (id),
        CONSTRAINT invites_clinician_id_fkey FOREIGN KEY (clinician_id) REFERENCES users (id),
        CONSTRAINT invites_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
    )
    """,
    "CREATE INDEX ix_invites_email ON invites (email)",
    """
    CREATE TABLE chat_sessions (
        id varchar(36) NOT NULL,
        user_id varchar(36) NOT NULL,
        clinician_id varchar(36),
        session_type varchar(32),
        status varchar(32),
        session_metadata jsonb,
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        updated_at timestamp without time zone NOT NULL DEFAULT now(),
        completed_at timestamp without time zone,
        CONSTRAINT chat_sessions_pkey PRIMARY KEY (id),
        CONSTRAINT chat_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
    )
    """,
    """
    CREATE TABLE chat_messages (
        id varchar(36) NOT NULL,
        session_id varchar(36) NOT NULL,
        role varchar(20) NOT NULL,
        content text NOT NULL,
        created_at timestamp without time zone NOT NULL DEFAULT now(),
        CONSTRAINT chat_messages_pkey PRIMARY KEY (id),
        CONSTRAINT chat_messages_session_id_fkey FOREIGN KEY (session_id) REFERENCES chat_sessions (id)
    )
    """,
)


def upgrade() -> None:
    for statement in LEGACY_DDL:
        op.execute(statement)


def downgrade() -> None:
    # Dropping the legacy schema destroys production data: it needs explicit consent, meant for
    # throw-away demo/test databases only (`-x drop_legacy_schema=yes`).
    consent = context.get_x_argument(as_dictionary=True).get("drop_legacy_schema")
    consent = consent or context.config.attributes.get("drop_legacy_schema")
    if consent != "yes":
        raise LegacySchemaDropRefused(
            "refusing to drop the legacy tables: downgrading below 20250526_legacy_baseline deletes all "
            "application data. On a throw-away database pass -x drop_legacy_schema=yes."
        )
    for table in ("chat_messages", "chat_sessions", "invites", "patient_profiles", "users", "accounts"):
        op.execute(f"DROP TABLE {table}")
