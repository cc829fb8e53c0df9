-- Rollback archives (patient_first_rollback) and what a later migration restored from them.
-- Reads: nothing. Writes: tables in schema patient_pipeline only (never an application table), so
-- the archive survives the downgrade to the legacy baseline. Holds PHI (archived patient rows).
-- Safe to re-run: every statement is CREATE ... IF NOT EXISTS.

CREATE SCHEMA IF NOT EXISTS patient_pipeline;

-- One row per real rollback run. status: planned (preflight done) -> verified (the archive equals the
-- live tables; only then may a downgrade drop anything) -> restored | discarded.
CREATE TABLE IF NOT EXISTS patient_pipeline.rollback_archives (
    run_id varchar(250) PRIMARY KEY,
    dag_id varchar(250) NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'verified', 'restored', 'discarded')),
    revision_before text,
    target_revision text NOT NULL,
    preflight_counts jsonb NOT NULL DEFAULT '{}'::jsonb,   -- live counts when the run started (first attempt)
    archived_counts jsonb NOT NULL DEFAULT '{}'::jsonb,    -- archive counts at the last verification
    verified_at timestamp without time zone,
    export_file text,                                      -- path of the PHI export (0600), never its content
    restored_by_run_id varchar(250),
    restored_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- Every patients row, whatever the revision: the typed columns of the head revision plus the full row
-- as jsonb (row_data = to_jsonb(patients row)), so a column the archive does not know is kept too.
CREATE TABLE IF NOT EXISTS patient_pipeline.archived_patients (
    run_id varchar(250) NOT NULL REFERENCES patient_pipeline.rollback_archives (run_id),
    id varchar(36) NOT NULL,
    account_id varchar(36),
    clinician_id varchar(36),
    external_id varchar(255),
    email varchar(255),
    first_name varchar(100) NOT NULL,
    last_name varchar(100) NOT NULL,
    phone varchar(20),
    date_of_birth date,
    status varchar(20) NOT NULL,
    notes text,
    user_id varchar(36),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    row_data jsonb NOT NULL,
    archived_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, id)
);

-- Every link to a patient: invites.patient_id ('invite'), chat_sessions.patient_id ('chat_session'),
-- patients.user_id ('user'; entity_id is the user id).
CREATE TABLE IF NOT EXISTS patient_pipeline.archived_patient_links (
    run_id varchar(250) NOT NULL REFERENCES patient_pipeline.rollback_archives (run_id),
    entity varchar(16) NOT NULL CHECK (entity IN ('invite', 'chat_session', 'user')),
    entity_id varchar(36) NOT NULL,
    patient_id varchar(36) NOT NULL,
    archived_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, entity, entity_id)
);
CREATE INDEX IF NOT EXISTS ix_archived_patient_links_patient
    ON patient_pipeline.archived_patient_links (patient_id, entity);

-- What a restore put back: one row per archived patient it considered (outcome restored: inserted by
-- the restore; already_present: the id was live; conflict: another live patient holds its
-- external id or identity key, so it was not inserted; the report names these ids).
CREATE TABLE IF NOT EXISTS patient_pipeline.restored_patients (
    archive_run_id varchar(250) NOT NULL REFERENCES patient_pipeline.rollback_archives (run_id),
    patient_id varchar(36) NOT NULL,
    restore_run_id varchar(250) NOT NULL,
    outcome varchar(16) NOT NULL CHECK (outcome IN ('restored', 'already_present', 'conflict')),
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (archive_run_id, patient_id)
);

-- Every link a restore wrote back (the column was NULL and the row still existed).
CREATE TABLE IF NOT EXISTS patient_pipeline.restored_links (
    archive_run_id varchar(250) NOT NULL REFERENCES patient_pipeline.rollback_archives (run_id),
    entity varchar(16) NOT NULL,
    entity_id varchar(36) NOT NULL,
    patient_id varchar(36) NOT NULL,
    restore_run_id varchar(250) NOT NULL,
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (archive_run_id, entity, entity_id)
);
