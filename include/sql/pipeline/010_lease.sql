-- The pipeline lease: which DAG run may write to the patient tables right now.
-- Reads/writes: patient_pipeline.pipeline_lease only. Safe to re-run: IF NOT EXISTS.
-- A lease (not only a session advisory lock) because a DAG run spans many task processes,
-- possibly on several workers; the advisory lock serialises taking and checking the lease.
CREATE TABLE IF NOT EXISTS patient_pipeline.pipeline_lease (
    name text PRIMARY KEY,
    holder_dag_id text NOT NULL,
    holder_run_id text NOT NULL,
    acquired_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    heartbeat_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at timestamp without time zone NOT NULL
);
