-- Migration/rollback run records and the legacy checksums taken by preflight.
-- Reads/writes: patient_pipeline only. Safe to re-run: IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS patient_pipeline.pipeline_runs (
    run_id text PRIMARY KEY,
    dag_id text NOT NULL,
    dry_run boolean NOT NULL,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision_before text,
    revision_after text,
    applied_revisions text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'running',
    started_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    finished_at timestamp without time zone
);

-- Row counts and checksums of every legacy table's original columns (include/core/checksums.py).
-- phase 'before' is taken by preflight; the earliest 'before' taken at the baseline revision is the
-- original state that the migration, a rerun and a rollback must all preserve.
CREATE TABLE IF NOT EXISTS patient_pipeline.legacy_checksums (
    run_id text NOT NULL,
    phase text NOT NULL,
    revision text,
    table_name text NOT NULL,
    row_count bigint NOT NULL,
    checksum text NOT NULL,
    taken_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, phase, table_name)
);

-- Per-row hashes of the original columns of the two legacy tables the migration writes link columns
-- into (invites, chat_sessions), taken by preflight. With them the checksum gate tells a change made
-- by the pipeline (a row whose updated_at did not move) from one made by the application meanwhile.
-- UNLOGGED: a server crash loses them and the gate then says to re-run preflight.
CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.legacy_row_hashes (
    run_id text NOT NULL,
    table_name text NOT NULL,
    id varchar(36) NOT NULL,
    row_hash text NOT NULL,
    PRIMARY KEY (run_id, table_name, id)
);

ALTER TABLE patient_pipeline.pipeline_runs ADD COLUMN IF NOT EXISTS checksums_taken_at timestamp without time zone;
