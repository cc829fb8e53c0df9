-- The pipeline's bookkeeping schema. Reads: nothing. Writes: the schema itself.
-- Safe to re-run: IF NOT EXISTS.
CREATE SCHEMA IF NOT EXISTS patient_pipeline;
