-- Verify the archive, patients: count and checksum of every live patients row (all columns, as
-- to_jsonb) vs this run's archived rows (row_data), and how many live rows the archive does not hold
-- exactly (with up to 10 ids, no PHI). The checksum is the sum of a 60-bit slice of each row's md5,
-- so it does not depend on row order. Keys of a column a downgrade already dropped (patients.user_id)
-- are left out of the archived side of the comparison (the archive keeps them; the live row cannot).
-- Reads: patients, patient_pipeline.archived_patients. Writes: nothing. Safe to re-run: read-only.
WITH live AS (
    SELECT p.id, to_jsonb(p) AS j FROM patients p
), gone AS (
    SELECT ARRAY(
        SELECT k FROM patient_pipeline.archived_patients a, jsonb_object_keys(a.row_data) k
        WHERE a.run_id = CAST(:run_id AS varchar)
        EXCEPT
        SELECT CAST(column_name AS text) FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'patients') AS keys
), archived AS (
    SELECT id, row_data - (SELECT keys FROM gone) AS j
    FROM patient_pipeline.archived_patients WHERE run_id = CAST(:run_id AS varchar)
), missing AS (
    SELECT l.id FROM live l WHERE NOT EXISTS (SELECT 1 FROM archived a WHERE a.id = l.id AND a.j = l.j)
)
SELECT (SELECT count(*) FROM live) AS live_rows,
       (SELECT coalesce(sum(CAST(CAST(CAST('x' || substr(md5(CAST(j AS text)), 1, 15) AS bit(60)) AS bigint)
                             AS numeric)), 0) FROM live)::text AS live_checksum,
       (SELECT count(*) FROM archived) AS archived_rows,
       (SELECT coalesce(sum(CAST(CAST(CAST('x' || substr(md5(CAST(j AS text)), 1, 15) AS bit(60)) AS bigint)
                             AS numeric)), 0) FROM archived)::text AS archived_checksum,
       (SELECT count(*) FROM missing) AS missing,
       ARRAY(SELECT id FROM missing ORDER BY id LIMIT 10) AS sample_ids
