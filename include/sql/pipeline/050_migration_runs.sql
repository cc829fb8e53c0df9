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

-- Row counts and checksums of every legacy table's original columns (include/checksums.py).
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
