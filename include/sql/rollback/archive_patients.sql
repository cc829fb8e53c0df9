-- Archive step, patients: make this run's copy of the patients table equal to the live table.
-- Reads: patients (every column, whatever the revision: the row is taken as to_jsonb). Writes:
-- patient_pipeline.archived_patients rows of :run_id only (insert new, update changed, delete the
-- ones no longer live). Nothing in the application schema is written.
-- Safe to re-run: an upsert keyed on (run_id, id) plus a prune of rows gone from the live table, so a
-- rerun after a crash converges to the live table. Only called while the patients table exists.
-- A column a downgrade already dropped (patients.user_id) keeps its archived value: the update merges
-- the live row over the archived one (row_data || live), it never forgets a key.
WITH live AS (
    SELECT to_jsonb(p) AS j FROM patients p
), upserted AS (
    INSERT INTO patient_pipeline.archived_patients AS a (
        run_id, id, account_id, clinician_id, external_id, email, first_name, last_name, phone,
        date_of_birth, status, notes, user_id, created_at, updated_at, row_data)
    SELECT CAST(:run_id AS varchar), j ->> 'id', j ->> 'account_id', j ->> 'clinician_id', j ->> 'external_id',
           j ->> 'email', j ->> 'first_name', j ->> 'last_name', j ->> 'phone',
           CAST(j ->> 'date_of_birth' AS date), j ->> 'status', j ->> 'notes', j ->> 'user_id',
           CAST(j ->> 'created_at' AS timestamp), CAST(j ->> 'updated_at' AS timestamp), j
    FROM live
    ON CONFLICT (run_id, id) DO UPDATE
    SET account_id = EXCLUDED.account_id, clinician_id = EXCLUDED.clinician_id,
        external_id = EXCLUDED.external_id, email = EXCLUDED.email, first_name = EXCLUDED.first_name,
        last_name = EXCLUDED.last_name, phone = EXCLUDED.phone, date_of_birth = EXCLUDED.date_of_birth,
        status = EXCLUDED.status, notes = EXCLUDED.notes, user_id = (a.row_data || EXCLUDED.row_data) ->> 'user_id',
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, row_data = a.row_data || EXCLUDED.row_data,
        archived_at = now() AT TIME ZONE 'utc'
    WHERE a.row_data IS DISTINCT FROM a.row_data || EXCLUDED.row_data
    RETURNING 1
), pruned AS (
    DELETE FROM patient_pipeline.archived_patients a
    WHERE a.run_id = CAST(:run_id AS varchar)
      AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = a.id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM live) AS live_rows,
       (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM pruned) AS pruned
